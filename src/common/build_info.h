// What a binary says of itself for `--version`: the project's version, the git revision it was
// built from, the build type and sanitizers, and (for the binaries that embed it) ONNX Runtime's
// version.
#pragma once

#include <string>

namespace modelfn {

struct BuildInfo {
  std::string version;       // the project's, "0.1.0"
  std::string git_revision;  // "3496839a1b2c", "…-dirty" when the tree had changes, or "unknown"
  std::string build_type;    // "RelWithDebInfo", "Release", "Debug"
  std::string sanitizers;    // "address,undefined" or ""
};
const BuildInfo& GetBuildInfo();

// "modelfn-fn 0.1.0 (git 3496839a1b2c, RelWithDebInfo; ONNX Runtime 1.30.0)", or its JSON form
// {"binary", "version", "git_revision", "build_type", "sanitizers", "onnxruntime"} (the last
// present when `onnxruntime` is not empty).
std::string VersionText(const std::string& binary, const std::string& onnxruntime);
std::string VersionJson(const std::string& binary, const std::string& onnxruntime);

// True when argv holds --version (also -V); *json when it also holds --json.
bool WantsVersion(int argc, char** argv, bool* json);

}  // namespace modelfn
