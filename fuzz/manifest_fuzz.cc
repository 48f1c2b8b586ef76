// libFuzzer target: manifest.json and current.json come from a model store that people other than
// the operator may write. Whatever the bytes, parsing never crashes, what is accepted serialises
// to a text that parses to the same serialisation, and the gateway's /openapi.json built from an
// accepted manifest is JSON.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/json.h"
#include "gateway/openapi.h"
#include "manifest/manifest.h"
#include "store/registry.h"

using namespace modelfn;

namespace {

[[noreturn]] void Fail(const char* what, const std::string& text) {
  fprintf(stderr, "%s: %.300s\n", what, text.c_str());
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto manifest = ParseManifest(text);
  if (manifest.ok()) {
    std::string once = SerializeManifest(*manifest);
    auto again = ParseManifest(once);
    if (!again.ok()) Fail("serialised manifest does not parse", once);
    if (SerializeManifest(*again) != once) Fail("manifest round trip differs", once);
    std::string openapi =
        BuildOpenApi({OpenApiFunction{"fn", &*manifest}}, "http://127.0.0.1:8080", true, true);
    if (!Json::Parse(openapi).ok()) Fail("openapi.json is not JSON", openapi);
  }

  auto pointer = Pointer::Parse(text);
  if (pointer.ok()) {
    std::string once = pointer->ToJson();
    auto again = Pointer::Parse(once);
    if (!again.ok()) Fail("serialised pointer does not parse", once);
    if (again->ToJson() != once) Fail("pointer round trip differs", once);
  }
  return 0;
}
