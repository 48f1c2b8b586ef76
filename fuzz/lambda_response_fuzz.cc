// libFuzzer target: what a lambda-mode instance posts back to the gateway's Runtime API (an API
// Gateway HTTP API 2.0 integration response, or any body) never crashes the gateway's reader. The
// instance may run a custom runtime (`command:`), so its answer is not ours to trust.
#include <cstdint>
#include <string_view>

#include "pool/pool.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view payload(reinterpret_cast<const char*>(data), size);
  (void)modelfn::ParseHttpApiResponse(payload);
  return 0;
}
