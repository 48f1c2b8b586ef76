#include "gateway/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/base64.h"

namespace modelfn {
namespace {

// base64url without padding (RFC 7515 section 2).
StatusOr<std::string> B64Url(std::string_view s) {
  std::string t(s);
  for (char& c : t) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '=' || c == '+' || c == '/') {
      return InvalidArgumentError("malformed token");
    }
  }
  if (t.size() % 4 == 1) return InvalidArgumentError("malformed token");  // no such length
  while (t.size() % 4 != 0) t.push_back('=');
  auto out = Base64Decode(t);
  if (!out.ok()) return InvalidArgumentError("malformed token");
  return out;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

EVP_PKEY* FromParams(const char* type, OSSL_PARAM* params) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  if (ctx && EVP_PKEY_fromdata_init(ctx) > 0) {
    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  }
  EVP_PKEY_CTX_free(ctx);
  return key;
}

EVP_PKEY* RsaKey(const std::string& n, const std::string& e) {
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                         static_cast<int>(n.size()), nullptr);
  BIGNUM* be = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                         static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  EVP_PKEY* key = nullptr;
  if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    if (params) key = FromParams("RSA", params);
    OSSL_PARAM_free(params);
  }
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn);
  BN_free(be);
  return key;
}

EVP_PKEY* P256Key(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = "\x04" + x + y;
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  return FromParams("EC", params);
}

bool VerifySha256(EVP_PKEY* key, std::string_view data, const std::string& sig) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// JWS ES256 signatures are r || s (32 bytes each); OpenSSL wants DER.
std::string EcdsaRawToDer(const std::string& raw) {
  if (raw.size() != 64) return "";
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::string out =
      len > 0 ? std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len)) : "";
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

const std::string* StringField(const Json& o, const char* k) {
  const Json* v = o.Find(k);
  return v != nullptr && v->is_string() ? &v->AsString() : nullptr;
}

}  // namespace

struct JwksVerifier::Key {
  std::string kid;
  std::string alg;  // RS256 or ES256
  Pkey pkey;
};

JwksVerifier::~JwksVerifier() = default;

StatusOr<std::unique_ptr<JwksVerifier>> JwksVerifier::FromJwks(std::string_view jwks_json) {
  auto doc = Json::Parse(jwks_json);
  if (!doc.ok() || !doc->is_object() || !doc->Find("keys") || !doc->Find("keys")->is_array()) {
    return InvalidArgumentError("not a JWKS document ({\"keys\": [...]})");
  }
  std::unique_ptr<JwksVerifier> v(new JwksVerifier());
  for (const Json& k : doc->Find("keys")->AsArray()) {
    if (!k.is_object()) continue;
    const std::string* kty = StringField(k, "kty");
    const std::string* use = StringField(k, "use");
    if (kty == nullptr || (use != nullptr && *use != "sig")) continue;
    auto key = std::make_unique<Key>();
    if (const std::string* kid = StringField(k, "kid")) key->kid = *kid;
    const std::string* alg = StringField(k, "alg");
    if (*kty == "RSA") {
      const std::string* n = StringField(k, "n");
      const std::string* e = StringField(k, "e");
      if (!n || !e || (alg && *alg != "RS256")) continue;
      auto nb = B64Url(*n);
      auto eb = B64Url(*e);
      if (!nb.ok() || !eb.ok() || nb->size() < 256) continue;  // RSA keys under 2048 bits: no
      key->pkey.reset(RsaKey(*nb, *eb));
      key->alg = "RS256";
    } else if (*kty == "EC") {
      const std::string* crv = StringField(k, "crv");
      const std::string* x = StringField(k, "x");
      const std::string* y = StringField(k, "y");
      if (!crv || *crv != "P-256" || !x || !y || (alg && *alg != "ES256")) continue;
      auto xb = B64Url(*x);
      auto yb = B64Url(*y);
      if (!xb.ok() || !yb.ok()) continue;
      key->pkey.reset(P256Key(*xb, *yb));
      key->alg = "ES256";
    }
    if (key->pkey) v->keys_.push_back(std::move(key));
  }
  if (v->keys_.empty()) return InvalidArgumentError("the JWKS holds no RS256 or ES256 key");
  return v;
}

StatusOr<Json> JwksVerifier::Verify(std::string_view token, const JwtPolicy& policy,
                                    int64_t now_s) const {
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return InvalidArgumentError("malformed token");
  }
  ASSIGN_OR_RETURN(std::string header_json, B64Url(token.substr(0, d1)));
  ASSIGN_OR_RETURN(std::string claims_json, B64Url(token.substr(d1 + 1, d2 - d1 - 1)));
  ASSIGN_OR_RETURN(std::string sig, B64Url(token.substr(d2 + 1)));
  auto header = Json::Parse(header_json);
  if (!header.ok() || !header->is_object()) return InvalidArgumentError("malformed token header");
  const std::string* alg = StringField(*header, "alg");
  if (alg == nullptr) return InvalidArgumentError("token header has no alg");
  if (*alg != "RS256" && *alg != "ES256") {
    // Never echo the token's text: callers may put this message in a header.
    return InvalidArgumentError("algorithm is not accepted (RS256 or ES256 only)");
  }
  if (header->Find("crit") != nullptr) return InvalidArgumentError("unsupported crit header");
  const std::string* kid = StringField(*header, "kid");
  std::string_view signed_part = token.substr(0, d2);
  bool any_key = false;
  bool verified = false;
  for (const auto& k : keys_) {
    if (k->alg != *alg) continue;
    if (kid != nullptr && !k->kid.empty() && k->kid != *kid) continue;
    any_key = true;
    std::string s = *alg == "ES256" ? EcdsaRawToDer(sig) : sig;
    if (!s.empty() && VerifySha256(k->pkey.get(), signed_part, s)) {
      verified = true;
      break;
    }
  }
  if (!any_key) return InvalidArgumentError("no key for this token's kid and alg");
  if (!verified) return InvalidArgumentError("bad signature");
  auto claims = Json::Parse(claims_json);
  if (!claims.ok() || !claims->is_object()) return InvalidArgumentError("malformed claims");
  // RFC 7519 section 4.1: the time claims are NumericDates. One of another type is refused, not
  // ignored: skipping a malformed nbf would accept a token before the issuer allowed it.
  for (const char* k : {"exp", "nbf", "iat"}) {
    const Json* v = claims->Find(k);
    if (v != nullptr && !v->is_number()) {
      return InvalidArgumentError(std::string("token's ") + k + " is not a number");
    }
  }
  auto number = [&](const char* k) -> const Json* { return claims->Find(k); };
  const Json* exp = number("exp");
  if (exp == nullptr) return InvalidArgumentError("token has no exp");
  if (static_cast<double>(now_s) > exp->AsDouble() + static_cast<double>(policy.leeway_s)) {
    return InvalidArgumentError("token expired");
  }
  if (const Json* nbf = number("nbf");
      nbf && static_cast<double>(now_s) + static_cast<double>(policy.leeway_s) < nbf->AsDouble()) {
    return InvalidArgumentError("token not yet valid");
  }
  if (const Json* iat = number("iat");
      iat && static_cast<double>(now_s) + static_cast<double>(policy.leeway_s) < iat->AsDouble()) {
    return InvalidArgumentError("token issued in the future");
  }
  if (!policy.issuer.empty()) {
    const std::string* iss = StringField(*claims, "iss");
    if (iss == nullptr || *iss != policy.issuer) return InvalidArgumentError("wrong issuer");
  }
  if (!policy.audience.empty()) {
    bool match = false;
    const Json* aud = claims->Find("aud");
    auto check = [&](const Json& a) {
      if (!a.is_string()) return;
      for (const auto& want : policy.audience) match = match || a.AsString() == want;
    };
    if (aud != nullptr && aud->is_array()) {
      for (const Json& a : aud->AsArray()) check(a);
    } else if (aud != nullptr) {
      check(*aud);
    }
    if (!match) return InvalidArgumentError("wrong audience");
  }
  return std::move(claims).value();
}

}  // namespace modelfn
