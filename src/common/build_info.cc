#include "common/build_info.h"

#include <cstring>

#include "common/build_info_gen.h"
#include "common/json.h"

#ifndef MODELFN_VERSION
#define MODELFN_VERSION "0.0.0"
#endif
#ifndef MODELFN_BUILD_TYPE
#define MODELFN_BUILD_TYPE "unknown"
#endif

namespace modelfn {

const BuildInfo& GetBuildInfo() {
  static const BuildInfo info = [] {
    BuildInfo b;
    b.version = MODELFN_VERSION;
    b.git_revision = MODELFN_GIT_REVISION;
    b.build_type = MODELFN_BUILD_TYPE;
    std::string san;
#if defined(__SANITIZE_ADDRESS__)
    san = "address";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    san = "address";
#endif
#endif
#if defined(__SANITIZE_THREAD__)
    san += san.empty() ? "thread" : ",thread";
#endif
    b.sanitizers = san;
    return b;
  }();
  return info;
}

std::string VersionText(const std::string& binary, const std::string& onnxruntime) {
  const BuildInfo& b = GetBuildInfo();
  std::string out = binary + " " + b.version + " (git " + b.git_revision + ", " + b.build_type;
  if (!b.sanitizers.empty()) out += ", sanitizers " + b.sanitizers;
  if (!onnxruntime.empty()) out += "; ONNX Runtime " + onnxruntime;
  return out + ")";
}

std::string VersionJson(const std::string& binary, const std::string& onnxruntime) {
  const BuildInfo& b = GetBuildInfo();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("binary").String(binary).Key("version").String(b.version);
  w.Key("git_revision").String(b.git_revision).Key("build_type").String(b.build_type);
  w.Key("sanitizers").String(b.sanitizers);
  if (!onnxruntime.empty()) w.Key("onnxruntime").String(onnxruntime);
  w.EndObject();
  return out;
}

bool WantsVersion(int argc, char** argv, bool* json) {
  bool version = false;
  *json = false;
  for (int i = 1; i < argc; ++i) {
    version |= strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0;
    *json |= strcmp(argv[i], "--json") == 0;
  }
  return version;
}

}  // namespace modelfn
