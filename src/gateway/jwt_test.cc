#include "gateway/jwt.h"

#include <gtest/gtest.h>

#include "gateway/jwt_testing.h"

namespace modelfn {
namespace {

using namespace jwt_testing;

constexpr int64_t kNow = 1'780'000'000;

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = NewRsaKey().release();
    ec_ = NewP256Key().release();
    other_rsa_ = NewRsaKey().release();
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(ec_);
    EVP_PKEY_free(other_rsa_);
  }
  std::unique_ptr<JwksVerifier> Verifier() {
    auto v = JwksVerifier::FromJwks(R"({"keys":[)" + RsaJwk(rsa_, "r1") + "," + P256Jwk(ec_, "e1") +
                                    "]}");
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return std::move(v).value();
  }
  static std::string Claims(int64_t exp = kNow + 60) {
    return R"({"sub":"alice","iss":"https://issuer.example","aud":"api","exp":)" +
           std::to_string(exp) + "}";
  }
  static StatusOr<Json> Check(const JwksVerifier& v, const std::string& token, int64_t now = kNow) {
    JwtPolicy policy;
    policy.issuer = "https://issuer.example";
    policy.audience = {"api"};
    policy.leeway_s = 30;
    return v.Verify(token, policy, now);
  }
  static EVP_PKEY* rsa_;
  static EVP_PKEY* ec_;
  static EVP_PKEY* other_rsa_;
};
EVP_PKEY* JwtTest::rsa_ = nullptr;
EVP_PKEY* JwtTest::ec_ = nullptr;
EVP_PKEY* JwtTest::other_rsa_ = nullptr;

TEST_F(JwtTest, Rs256AndEs256Verify) {
  auto v = Verifier();
  EXPECT_EQ(v->key_count(), 2u);
  auto rs = Check(*v, SignRs256(rsa_, R"({"alg":"RS256","kid":"r1"})", Claims()));
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  EXPECT_EQ(rs->Find("sub")->AsString(), "alice");
  auto es = Check(*v, SignEs256(ec_, R"({"alg":"ES256","kid":"e1"})", Claims()));
  ASSERT_TRUE(es.ok()) << es.status().ToString();
  // No kid: every key of the algorithm is tried.
  EXPECT_TRUE(Check(*v, SignRs256(rsa_, R"({"alg":"RS256"})", Claims())).ok());
}

TEST_F(JwtTest, AlgNoneIsRefused) {
  auto v = Verifier();
  std::string token = B64(R"({"alg":"none"})") + "." + B64(Claims()) + ".";
  auto r = Check(*v, token);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("algorithm"), std::string::npos);
}

TEST_F(JwtTest, Hs256IsRefusedEvenKeyedWithThePublicKey) {
  auto v = Verifier();
  // Algorithm confusion: an HMAC keyed with the RSA key's public modulus.
  std::string secret = BigNumParam(rsa_, OSSL_PKEY_PARAM_RSA_N);
  auto r = Check(*v, SignHs256(secret, R"({"alg":"HS256","kid":"r1"})", Claims()));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("algorithm"), std::string::npos);
}

TEST_F(JwtTest, AlgMustMatchTheKeysType) {
  auto v = Verifier();
  // Signed with the EC key but labelled RS256 (and the reverse): no key verifies it.
  EXPECT_FALSE(Check(*v, SignEs256(ec_, R"({"alg":"RS256","kid":"r1"})", Claims())).ok());
  EXPECT_FALSE(Check(*v, SignRs256(rsa_, R"({"alg":"ES256","kid":"e1"})", Claims())).ok());
}

TEST_F(JwtTest, WrongKidOrForeignKeyIsRefused) {
  auto v = Verifier();
  auto unknown = Check(*v, SignRs256(rsa_, R"({"alg":"RS256","kid":"nope"})", Claims()));
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no key"), std::string::npos);
  auto foreign = Check(*v, SignRs256(other_rsa_, R"({"alg":"RS256","kid":"r1"})", Claims()));
  EXPECT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().message(), "bad signature");
}

TEST_F(JwtTest, ExpiryHonoursTheLeewayOnAFakeClock) {
  auto v = Verifier();
  std::string token = SignRs256(rsa_, R"({"alg":"RS256"})", Claims(kNow));
  EXPECT_TRUE(Check(*v, token, kNow).ok());
  EXPECT_TRUE(Check(*v, token, kNow + 30).ok());
  auto late = Check(*v, token, kNow + 31);
  EXPECT_FALSE(late.ok());
  EXPECT_EQ(late.status().message(), "token expired");
  std::string no_exp = SignRs256(rsa_, R"({"alg":"RS256"})",
                                 R"({"sub":"a","iss":"https://issuer.example","aud":"api"})");
  EXPECT_EQ(Check(*v, no_exp).status().message(), "token has no exp");
  std::string text_exp = SignRs256(rsa_, R"({"alg":"RS256"})", R"({"exp":"99999999999"})");
  EXPECT_FALSE(Check(*v, text_exp).ok());
}

TEST_F(JwtTest, NotBeforeAndIssuedInTheFuture) {
  auto v = Verifier();
  std::string claims = R"({"iss":"https://issuer.example","aud":"api","exp":)" +
                       std::to_string(kNow + 3600) + R"(,"nbf":)" + std::to_string(kNow + 100) +
                       "}";
  std::string token = SignRs256(rsa_, R"({"alg":"RS256"})", claims);
  EXPECT_EQ(Check(*v, token).status().message(), "token not yet valid");
  EXPECT_TRUE(Check(*v, token, kNow + 70).ok());
}

TEST_F(JwtTest, IssuerAndAudienceAreChecked) {
  auto v = Verifier();
  std::string wrong_iss =
      R"({"iss":"https://evil.example","aud":"api","exp":)" + std::to_string(kNow + 60) + "}";
  EXPECT_EQ(Check(*v, SignRs256(rsa_, R"({"alg":"RS256"})", wrong_iss)).status().message(),
            "wrong issuer");
  std::string aud_list = R"({"iss":"https://issuer.example","aud":["x","api"],"exp":)" +
                         std::to_string(kNow + 60) + "}";
  EXPECT_TRUE(Check(*v, SignRs256(rsa_, R"({"alg":"RS256"})", aud_list)).ok());
  std::string wrong_aud =
      R"({"iss":"https://issuer.example","aud":["x"],"exp":)" + std::to_string(kNow + 60) + "}";
  EXPECT_EQ(Check(*v, SignRs256(rsa_, R"({"alg":"RS256"})", wrong_aud)).status().message(),
            "wrong audience");
}

TEST_F(JwtTest, DuplicateClaimsNeverExtendTheToken) {
  auto v = Verifier();
  // Whichever of two exp claims a parser keeps, an expired one must not be outvoted.
  std::string claims = R"({"iss":"https://issuer.example","aud":"api","exp":)" +
                       std::to_string(kNow - 3600) + R"(,"exp":)" + std::to_string(kNow + 3600) +
                       "}";
  auto r = Check(*v, SignRs256(rsa_, R"({"alg":"RS256"})", claims));
  EXPECT_FALSE(r.ok());
  std::string reversed = R"({"iss":"https://issuer.example","aud":"api","exp":)" +
                         std::to_string(kNow + 3600) + R"(,"exp":)" + std::to_string(kNow - 3600) +
                         "}";
  EXPECT_FALSE(Check(*v, SignRs256(rsa_, R"({"alg":"RS256"})", reversed)).ok());
  std::string two_alg_header = R"({"alg":"RS256","alg":"none"})";
  EXPECT_FALSE(Check(*v, SignRs256(rsa_, two_alg_header, Claims())).ok());
}

TEST_F(JwtTest, OversizeAndMalformedTokensAreRefused) {
  auto v = Verifier();
  std::string good = SignRs256(rsa_, R"({"alg":"RS256"})", Claims());
  std::string padded_claims =
      R"({"pad":")" + std::string(1 << 20, 'a') + R"(","exp":)" + std::to_string(kNow + 60) + "}";
  // A megabyte of claims under a signature for other claims.
  std::string big =
      good.substr(0, good.find('.')) + "." + B64(padded_claims) + good.substr(good.rfind('.'));
  EXPECT_EQ(Check(*v, big).status().message(), "bad signature");
  std::string long_sig = good + std::string(4096, 'A');
  EXPECT_FALSE(Check(*v, long_sig).ok());
  for (const std::string& bad : {std::string(""), std::string("a.b"), std::string("a.b.c.d"),
                                 good + "=", std::string("...")}) {
    EXPECT_FALSE(Check(*v, bad).ok()) << bad;
  }
}

TEST(JwksTest, DocumentsWithoutUsableKeysAreRefused) {
  EXPECT_FALSE(JwksVerifier::FromJwks("[]").ok());
  EXPECT_FALSE(JwksVerifier::FromJwks(R"({"keys":[]})").ok());
  EXPECT_FALSE(JwksVerifier::FromJwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})").ok());
  // An RSA key under 2048 bits is not used.
  Pkey small(EVP_RSA_gen(1024));
  EXPECT_FALSE(JwksVerifier::FromJwks(R"({"keys":[)" + RsaJwk(small.get(), "s") + "]}").ok());
}

}  // namespace
}  // namespace modelfn
