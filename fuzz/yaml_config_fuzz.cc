// libFuzzer target: modelfn.yaml (YAML, or JSON) never crashes the YAML reader or the config
// checks; a document the YAML reader accepts is a JSON DOM that serialises to parseable JSON.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/json.h"
#include "platform/config.h"
#include "platform/yaml.h"

using namespace modelfn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // A base folder that does not exist: checks must not depend on what the disk holds.
  const std::string base = "/nonexistent/modelfn-fuzz";
  auto yaml = ParseYaml(text);
  if (yaml.ok()) {
    std::string dumped = yaml->Dump();
    if (!Json::Parse(dumped).ok()) {
      fprintf(stderr, "YAML DOM is not JSON: %.300s\n", dumped.c_str());
      abort();
    }
    (void)ParsePlatformConfig(*yaml, base);
  }
  auto json = Json::Parse(text);
  if (json.ok()) (void)ParsePlatformConfig(*json, base);
  return 0;
}
