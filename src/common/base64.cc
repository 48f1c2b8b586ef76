#include "common/base64.h"

#include <openssl/evp.h>

#include <cstdint>

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

namespace {

constexpr uint8_t kSkip = 0xFE;  // whitespace between characters
constexpr uint8_t kBad = 0xFF;

struct DecodeTable {
  uint8_t v[256];
  constexpr DecodeTable() : v() {
    for (auto& x : v) x = kBad;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (uint8_t i = 0; i < 64; ++i) v[static_cast<uint8_t>(alphabet[i])] = i;
    v[static_cast<uint8_t>(' ')] = v[static_cast<uint8_t>('\t')] = kSkip;
    v[static_cast<uint8_t>('\r')] = v[static_cast<uint8_t>('\n')] = kSkip;
  }
};
constexpr DecodeTable kDecode;

}  // namespace

StatusOr<std::string> Base64Decode(std::string_view text) {
  auto bad = [] {
    return Status(StatusCode::kInvalidArgument, "not valid base64", "invalid_request");
  };
  std::string out(text.size() / 4 * 3 + 3, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  auto* in = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  // Whole quanta of four alphabet characters, the common case, without per-byte branching.
  while (i + 4 <= text.size()) {
    uint32_t a = kDecode.v[in[i]], b = kDecode.v[in[i + 1]], c = kDecode.v[in[i + 2]],
             d = kDecode.v[in[i + 3]];
    if ((a | b | c | d) >= 64) break;
    uint32_t q = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<unsigned char>(q >> 16);
    o[1] = static_cast<unsigned char>(q >> 8);
    o[2] = static_cast<unsigned char>(q);
    o += 3;
    i += 4;
  }
  // The rest, one character at a time: whitespace, padding, and what is refused.
  uint32_t quantum = 0;  // up to four 6-bit values
  int have = 0;          // values in quantum
  for (; i < text.size(); ++i) {
    uint8_t v = kDecode.v[in[i]];
    if (v < 64) {
      quantum = (quantum << 6) | v;
      if (++have == 4) {
        o[0] = static_cast<unsigned char>(quantum >> 16);
        o[1] = static_cast<unsigned char>(quantum >> 8);
        o[2] = static_cast<unsigned char>(quantum);
        o += 3;
        quantum = 0;
        have = 0;
      }
    } else if (v != kSkip) {
      break;  // '=' or a character outside the alphabet
    }
  }
  if (i == text.size()) {
    if (have != 0) return bad();
    out.resize(static_cast<size_t>(o - reinterpret_cast<unsigned char*>(out.data())));
    return out;
  }
  // Padding: "xx==" or "xxx=" ends the text (whitespace aside); anything else is refused.
  int pad = 0;
  for (; i < text.size(); ++i) {
    if (text[i] == '=') {
      ++pad;
    } else if (kDecode.v[static_cast<uint8_t>(text[i])] != kSkip) {
      return bad();
    }
  }
  if (have < 2 || have + pad != 4) return bad();
  if (have == 2) {
    *o++ = static_cast<unsigned char>(quantum >> 4);
  } else {
    *o++ = static_cast<unsigned char>(quantum >> 10);
    *o++ = static_cast<unsigned char>(quantum >> 2);
  }
  out.resize(static_cast<size_t>(o - reinterpret_cast<unsigned char*>(out.data())));
  return out;
}

}  // namespace modelfn
