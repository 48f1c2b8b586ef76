#include "common/base64.h"

#include <openssl/evp.h>

namespace modelfn {

std::string Base64Encode(std::string_view bin) {
  std::string out(4 * ((bin.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bin.data()),
                          static_cast<int>(bin.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Base64UrlEncode(std::string_view bin) {
  std::string out = Base64Encode(bin);
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

StatusOr<std::string> Base64Decode(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ') clean.push_back(c);
  }
  auto bad = [] {
    return Status(StatusCode::kInvalidArgument, "not valid base64", "invalid_request");
  };
  if (clean.size() % 4 != 0) return bad();
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return bad();
  size_t pad = 0;
  for (size_t i = clean.size(); i > 0 && clean[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace modelfn
