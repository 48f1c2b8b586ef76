// libFuzzer target: JWT bearer tokens and JWKS documents never crash the verifier. The first byte
// picks what the rest is: even, a token checked against a fixed JWKS (one RSA and one P-256 key;
// fuzz/corpus/jwt_fuzz holds tokens they signed); odd, a JWKS document that then checks a fixed
// token. Time is fixed, so an input verifies the same way on every run.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/jwt.h"

using namespace modelfn;

namespace {

constexpr int64_t kNow = 1800000000;
constexpr const char* kJwks =
    R"({"keys":[{"kty":"RSA","kid":"r1","alg":"RS256","use":"sig","n":"tfSHrP8Elt6GXqkkRbscn2Z3)"
    R"(V76xITHNRSf3H_owthZAQXkQpm9FvauiQMBl9eifjK8m7k0CYECW4FFSyFCDLD9bv8xrmOD6g1SPwqvEgvbb10hf)"
    R"(XdPnxGTHQ8XOApdCPli39mmjuM7lZ3obXsneceeVDRUABkVVZMkVcJE0R9p_Sn_bPMol5KfJQDsLkg8F1FzcvBb9)"
    R"(m-9bcc0rErXptoCJbRRczZywprVdiQaxlpO_KIPg54fIII58jzX0BwT4QmsjAF9mCoQ8xt0TZZOC-f7YqAzx_0Bo)"
    R"(I8bj1L50fXfkxB_CWkNhsRLGaHTb2ozJjl_r1eeq-giyIuiuFYNyMw","e":"AQAB"},{"kty":"EC","kid":"e)"
    R"(1","crv":"P-256","x":"_Iny5xVOJCJlG5Hh72DqnmHZN64L1dy906MP9Gn-ayM","y":"0Vw7fwR_Bb2n6a20)"
    R"(LKz1qYdLhBLtqd83PxxRqBKI718"}]})";
// An RS256 token whose header names key "r1" (its signature is not a valid one).
constexpr const char* kToken =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InIxIiwidHlwIjoiSldUIn0."
    "eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiZXhwIjoxODAwMDAzNjAwfQ."
    "c2lnbmF0dXJl";

JwtPolicy Policy() {
  JwtPolicy p;
  p.issuer = "https://issuer.example";
  p.audience = {"modelfn"};
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  static const JwtPolicy policy = Policy();
  if (data[0] % 2 == 0) {
    static const std::unique_ptr<JwksVerifier> fixed = [] {
      auto v = JwksVerifier::FromJwks(kJwks);
      if (!v.ok() || (*v)->key_count() != 2) abort();
      return std::move(v).value();
    }();
    (void)fixed->Verify(rest, policy, kNow);
    return 0;
  }
  auto verifier = JwksVerifier::FromJwks(rest);
  if (verifier.ok()) (void)(*verifier)->Verify(kToken, policy, kNow);
  return 0;
}
