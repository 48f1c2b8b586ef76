// GcsStore's requests (OAuth2 tokens from the metadata server or a service-account key, upload
// conditions) and its reading of the JSON API's answers, against canned responses.
#include "store/gcs_store.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/base64.h"
#include "common/clock.h"
#include "common/json.h"
#include "store/fake_http_client.h"

namespace modelfn {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kWall = 1'764'547'200 * kSecond;

class GcsStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<GcsStore> Make(GcsAuth auth) {
    auto http = std::make_unique<FakeHttpClient>();
    http_ = http.get();
    clock_.SetWall(kWall);
    return std::make_unique<GcsStore>("https://storage.example/", "bkt", "team", std::move(auth),
                                      std::move(http), &clock_);
  }
  static GcsAuth Metadata() {
    GcsAuth a;
    a.kind = GcsAuth::Kind::kMetadata;
    a.metadata_host = "meta.local";
    return a;
  }
  FakeClock clock_;
  FakeHttpClient* http_ = nullptr;
};

TEST_F(GcsStoreTest, MetadataTokenIsFetchedOnceAndRefreshedBeforeItExpires) {
  auto gcs = Make(Metadata());
  http_->Reply(200, R"({"access_token":"t1","expires_in":3600,"token_type":"Bearer"})");
  http_->Reply(200, "one");
  http_->Reply(200, "two");
  ASSERT_EQ(gcs->Get("m/k").value(), "one");
  ASSERT_EQ(gcs->Get("m/k").value(), "two");
  ASSERT_EQ(http_->calls.size(), 3u);
  EXPECT_EQ(http_->calls[0].url,
            "http://meta.local/computeMetadata/v1/instance/service-accounts/default/token");
  EXPECT_EQ(http_->calls[0].Header("Metadata-Flavor"), "Google");
  EXPECT_EQ(http_->calls[1].url,
            "https://storage.example/storage/v1/b/bkt/o/team%2Fm%2Fk?alt=media");
  EXPECT_EQ(http_->calls[1].Header("Authorization"), "Bearer t1");
  EXPECT_EQ(http_->calls[2].Header("Authorization"), "Bearer t1");
  // A minute before expiry the token is fetched again.
  clock_.Advance(3540 * kSecond);
  http_->Reply(200, R"({"access_token":"t2","expires_in":3600})");
  http_->Reply(200, "three");
  ASSERT_EQ(gcs->Get("m/k").value(), "three");
  ASSERT_EQ(http_->calls.size(), 5u);
  EXPECT_EQ(http_->calls[4].Header("Authorization"), "Bearer t2");
}

TEST_F(GcsStoreTest, MetadataWithoutATokenIsAnAuthError) {
  auto gcs = Make(Metadata());
  http_->Reply(404, "not here");
  EXPECT_EQ(gcs->Get("k").status().reason(), "store_auth");
  http_->Reply(200, R"({"token_type":"Bearer"})");
  EXPECT_EQ(gcs->Get("k").status().reason(), "store_auth");
}

std::string NewRsaKeyPem(EVP_PKEY** key) {
  *key = EVP_RSA_gen(2048);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, *key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string FromBase64Url(std::string s) {
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  return Base64Decode(s).value();
}

TEST(GcsJwtTest, AssertionIsRs256SignedWithTheKeysClaims) {
  EVP_PKEY* key = nullptr;
  GcsAuth auth;
  auth.kind = GcsAuth::Kind::kServiceAccount;
  auth.client_email = "fn@project.iam.gserviceaccount.com";
  auth.private_key_pem = NewRsaKeyPem(&key);
  auth.token_uri = "https://oauth2.example/token";
  auto jwt = MakeServiceAccountJwt(auth, kWall);
  ASSERT_TRUE(jwt.ok()) << jwt.status().ToString();
  size_t dot1 = jwt->find('.'), dot2 = jwt->rfind('.');
  ASSERT_NE(dot1, dot2);
  auto header = Json::Parse(FromBase64Url(jwt->substr(0, dot1)));
  auto claims = Json::Parse(FromBase64Url(jwt->substr(dot1 + 1, dot2 - dot1 - 1)));
  ASSERT_TRUE(header.ok() && claims.ok());
  EXPECT_EQ(header->Find("alg")->AsString(), "RS256");
  EXPECT_EQ(claims->Find("iss")->AsString(), auth.client_email);
  EXPECT_EQ(claims->Find("aud")->AsString(), auth.token_uri);
  EXPECT_EQ(claims->Find("scope")->AsString(),
            "https://www.googleapis.com/auth/devstorage.read_write");
  EXPECT_EQ(claims->Find("iat")->AsInt64(), kWall / kSecond);
  EXPECT_EQ(claims->Find("exp")->AsInt64(), kWall / kSecond + 3600);
  std::string signed_part = jwt->substr(0, dot2);
  std::string sig = FromBase64Url(jwt->substr(dot2 + 1));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(signed_part.data()),
                             signed_part.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  auth.private_key_pem = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  EXPECT_EQ(MakeServiceAccountJwt(auth, kWall).status().reason(), "store_auth");
}

TEST_F(GcsStoreTest, ServiceAccountExchangesItsAssertionForAToken) {
  EVP_PKEY* key = nullptr;
  GcsAuth auth;
  auth.kind = GcsAuth::Kind::kServiceAccount;
  auth.client_email = "fn@p.iam.gserviceaccount.com";
  auth.private_key_pem = NewRsaKeyPem(&key);
  auth.token_uri = "https://oauth2.example/token";
  EVP_PKEY_free(key);
  auto gcs = Make(auth);
  http_->Reply(200, R"({"access_token":"sa-token","expires_in":3599})");
  http_->Reply(200, "x");
  ASSERT_TRUE(gcs->Get("k").ok());
  const RecordedCall& t = http_->calls.at(0);
  EXPECT_EQ(t.method, "POST");
  EXPECT_EQ(t.url, "https://oauth2.example/token");
  EXPECT_EQ(t.Header("Content-Type"), "application/x-www-form-urlencoded");
  std::string grant = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
  ASSERT_EQ(t.body.rfind(grant, 0), 0u) << t.body;
  EXPECT_EQ(std::count(t.body.begin() + grant.size(), t.body.end(), '.'), 2);
  EXPECT_EQ(http_->calls.at(1).Header("Authorization"), "Bearer sa-token");
  // A refused exchange is an auth error that names the clock (a common cause).
  auto again = Make(auth);
  http_->Reply(400, R"({"error":"invalid_grant"})");
  Status s = again->Get("k").status();
  EXPECT_EQ(s.reason(), "store_auth");
  EXPECT_NE(s.message().find("clock"), std::string::npos);
}

TEST_F(GcsStoreTest, UploadsCarryTheirConditionAsAGeneration) {
  auto gcs = Make(GcsAuth{});
  http_->Reply(200, R"({"name":"team/m/x","generation":"1700","size":"2"})");
  PutOptions o;
  o.condition = PutOptions::Condition::kIfAbsent;
  o.content_type = "application/json";
  auto put = gcs->Put("m/x", "{}", o);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->etag, "1700");
  const RecordedCall& c = http_->calls.at(0);
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.url,
            "https://storage.example/upload/storage/v1/b/bkt/o"
            "?uploadType=media&name=team%2Fm%2Fx&ifGenerationMatch=0");
  EXPECT_EQ(c.Header("Content-Type"), "application/json");
  EXPECT_EQ(c.Header("Content-Length"), "2");
  EXPECT_EQ(c.Header("Authorization"), "");  // an emulator: no auth
  o.condition = PutOptions::Condition::kIfMatch;
  o.if_match = "1700";
  http_->Reply(412, R"({"error":{"code":412,"message":"conditionNotMet"}})");
  Status s = gcs->Put("m/x", "{}", o).status();
  EXPECT_EQ(s.reason(), "precondition_failed");
  EXPECT_NE(s.message().find("(conditionNotMet)"), std::string::npos) << s.message();
  EXPECT_NE(http_->calls.at(1).url.find("&ifGenerationMatch=1700"), std::string::npos);
}

TEST_F(GcsStoreTest, ListFollowsPageTokensAndStripsThePrefix) {
  auto gcs = Make(GcsAuth{});
  http_->Reply(200, R"({"kind":"storage#objects","nextPageToken":"p/2",
    "items":[{"name":"team/m/b","size":"5","generation":"2"},{"name":"team/m/a","size":"1",
    "generation":"1"}]})");
  http_->Reply(200, R"({"kind":"storage#objects","items":[{"name":"team/m/c","size":"0"}]})");
  auto list = gcs->List("m/");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].key, "m/a");
  EXPECT_EQ((*list)[0].etag, "1");
  EXPECT_EQ((*list)[1].size, 5u);
  EXPECT_EQ((*list)[2].key, "m/c");
  EXPECT_EQ(http_->calls.at(1).url,
            "https://storage.example/storage/v1/b/bkt/o?prefix=team%2Fm%2F&pageToken=p%2F2");
  http_->Reply(200, "<html>not json</html>");
  EXPECT_EQ(gcs->List("m/").status().code(), StatusCode::kUnavailable);
}

TEST_F(GcsStoreTest, ErrorsAreTypedByStatus) {
  auto gcs = Make(GcsAuth{});
  http_->Reply(404, R"({"error":{"code":404,"message":"No such object: bkt/team/k"}})");
  Status s = gcs->Get("k").status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("No such object"), std::string::npos);
  http_->Reply(403, R"({"error":{"code":403,"message":"denied"}})");
  EXPECT_EQ(gcs->Get("k").status().reason(), "store_auth");
  http_->Reply(400, "plain text");
  EXPECT_EQ(gcs->Get("k").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(http_->pending(), 0u);
}

}  // namespace
}  // namespace modelfn
