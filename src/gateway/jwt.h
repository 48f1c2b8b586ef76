// JWT bearer tokens (RFC 7519, compact JWS) verified against a JWKS (RFC 7517): RS256 (RSA
// PKCS#1 v1.5 with SHA-256) and ES256 (ECDSA P-256 with SHA-256) only. The algorithm must match the
// key's type, so "alg": "none" and HS256-with-the-RSA-public-key (algorithm confusion) fail. exp is
// required; nbf and iat are checked when present; iss and aud when configured; all with a leeway.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace modelfn {

struct JwtPolicy {
  std::string issuer;                 // "" accepts any
  std::vector<std::string> audience;  // empty accepts any; else one must match
  int64_t leeway_s = 30;
};

class JwksVerifier {
 public:
  // Errors: InvalidArgument when the document is not a JWKS or holds no usable key.
  static StatusOr<std::unique_ptr<JwksVerifier>> FromJwks(std::string_view jwks_json);
  ~JwksVerifier();

  size_t key_count() const { return keys_.size(); }

  // The token's claims when it verifies. Errors are InvalidArgument with a short reason in the
  // message ("expired", "bad signature", "wrong audience", ...), safe to show the client.
  StatusOr<Json> Verify(std::string_view token, const JwtPolicy& policy, int64_t now_s) const;

 private:
  struct Key;
  JwksVerifier() = default;
  std::vector<std::unique_ptr<Key>> keys_;
};

}  // namespace modelfn
