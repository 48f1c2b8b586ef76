// libFuzzer target: base64 decoding (API Gateway bodies, JWT segments) never crashes, and both
// encoders round-trip through the decoder.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/base64.h"

using namespace modelfn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = Base64Decode(bytes);
  if (decoded.ok() && decoded->size() > bytes.size()) abort();

  std::string std_text = Base64Encode(bytes);
  auto back = Base64Decode(std_text);
  if (!back.ok() || *back != bytes) abort();

  std::string url_text = Base64UrlEncode(bytes);
  if (url_text.find_first_of("+/=") != std::string::npos) abort();
  for (char& c : url_text) c = c == '-' ? '+' : c == '_' ? '/' : c;
  url_text.append((4 - url_text.size() % 4) % 4, '=');
  auto url_back = Base64Decode(url_text);
  if (!url_back.ok() || *url_back != bytes) abort();
  return 0;
}
