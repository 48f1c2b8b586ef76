// Test-only signing for JWT unit tests: RSA and P-256 key pairs made at run time, their JWKS,
// and compact tokens signed RS256, ES256 or HS256.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>

#include "common/base64.h"

namespace modelfn::jwt_testing {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline Pkey NewRsaKey() { return Pkey(EVP_RSA_gen(2048)); }
inline Pkey NewP256Key() { return Pkey(EVP_EC_gen("P-256")); }

inline std::string B64(std::string_view s) {
  std::string t = Base64UrlEncode(s);
  while (!t.empty() && t.back() == '=') t.pop_back();
  return t;
}

inline std::string BigNumParam(EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// {"kty":"RSA",...} for the public half of `k`.
inline std::string RsaJwk(EVP_PKEY* k, const std::string& kid) {
  return R"({"kty":"RSA","kid":")" + kid + R"(","n":")" +
         B64(BigNumParam(k, OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" +
         B64(BigNumParam(k, OSSL_PKEY_PARAM_RSA_E)) + R"("})";
}

inline std::string P256Jwk(EVP_PKEY* k, const std::string& kid) {
  unsigned char point[65];
  size_t len = 0;
  EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len);
  std::string x(reinterpret_cast<char*>(point) + 1, 32), y(reinterpret_cast<char*>(point) + 33, 32);
  return R"({"kty":"EC","crv":"P-256","kid":")" + kid + R"(","x":")" + B64(x) + R"(","y":")" +
         B64(y) + R"("})";
}

inline std::string SignSha256(EVP_PKEY* k, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                 data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

// header.claims.signature; `header` and `claims` are JSON texts, signed as given.
inline std::string SignRs256(EVP_PKEY* k, const std::string& header, const std::string& claims) {
  std::string signing_input = B64(header) + "." + B64(claims);
  return signing_input + "." + B64(SignSha256(k, signing_input));
}

inline std::string SignEs256(EVP_PKEY* k, const std::string& header, const std::string& claims) {
  std::string signing_input = B64(header) + "." + B64(claims);
  std::string der = SignSha256(k, signing_input);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return signing_input + "." + B64(raw);
}

inline std::string SignHs256(const std::string& secret, const std::string& header,
                             const std::string& claims) {
  std::string signing_input = B64(header) + "." + B64(claims);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &len);
  return signing_input + "." + B64(std::string(reinterpret_cast<char*>(mac), len));
}

}  // namespace modelfn::jwt_testing
