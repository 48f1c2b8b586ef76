// libFuzzer target: the JSON parser never crashes, what it accepts survives a round trip, and
// Validate accepts exactly what Parse accepts, with the same error.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = modelfn::Json::Parse(text);
  auto checked = modelfn::Json::Validate(text, modelfn::Json::ParseOptions());
  if (checked.ok() != j.ok()) abort();
  if (!j.ok()) {
    if (checked.status().message() != j.status().message() ||
        checked.status().reason() != j.status().reason()) {
      abort();
    }
    return 0;
  }
  if (*checked != j->type()) abort();
  std::string once = j->Dump();
  auto again = modelfn::Json::Parse(once);
  if (!again.ok() || again->Dump() != once) abort();
  return 0;
}
