// libFuzzer target: the JSON parser never crashes, and what it accepts survives a round trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = modelfn::Json::Parse(text);
  if (!j.ok()) return 0;
  std::string once = j->Dump();
  auto again = modelfn::Json::Parse(once);
  if (!again.ok() || again->Dump() != once) abort();
  return 0;
}
