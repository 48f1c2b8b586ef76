#include "store/azure_identity.h"

#include <gtest/gtest.h>

#include <map>

#include "store/azure_store.h"
#include "store/fake_http_client.h"

namespace modelfn {
namespace {

constexpr int64_t kNowS = 1'764'547'200;  // 2025-12-01T00:00:00Z
constexpr int64_t kS = 1'000'000'000;

EnvFn Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string TokenJson(const std::string& token, const std::string& expires_on) {
  return R"({"access_token":")" + token + R"(","expires_on":)" + expires_on +
         R"(,"resource":"https://storage.azure.com/","token_type":"Bearer"})";
}

class ManagedIdentityTest : public ::testing::Test {
 protected:
  std::unique_ptr<ManagedIdentityTokens> Make(std::map<std::string, std::string> vars) {
    auto http = std::make_unique<FakeHttpClient>();
    http_ = http.get();
    clock_.SetWall(kNowS * kS);
    return std::make_unique<ManagedIdentityTokens>(Env(std::move(vars)), std::move(http), &clock_);
  }
  FakeClock clock_;
  FakeHttpClient* http_ = nullptr;
};

TEST_F(ManagedIdentityTest, AppServiceEndpointIsAskedWithItsHeaderAndTheTokenIsKept) {
  auto t = Make(
      {{"IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token"}, {"IDENTITY_HEADER", "secret-1"}});
  EXPECT_STREQ(t->kind(), "app-service");
  http_->Reply(200, TokenJson("tok-1", "\"" + std::to_string(kNowS + 3600) + "\""));
  auto a = t->Token();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, "tok-1");
  const RecordedCall& c = http_->calls.at(0);
  EXPECT_EQ(c.method, "GET");
  EXPECT_EQ(c.url,
            "http://127.0.0.1:41741/msi/token?resource=https%3A%2F%2Fstorage.azure.com%2F"
            "&api-version=2019-08-01");
  EXPECT_EQ(c.Header("X-IDENTITY-HEADER"), "secret-1");
  // Kept while more than five minutes remain: no second call.
  clock_.Advance(3000 * kS);
  EXPECT_EQ(*t->Token(), "tok-1");
  EXPECT_EQ(http_->calls.size(), 1u);
  // Then fetched again.
  clock_.Advance(400 * kS);
  http_->Reply(200, TokenJson("tok-2", std::to_string(kNowS + 7200)));  // a number this time
  EXPECT_EQ(*t->Token(), "tok-2");
  EXPECT_EQ(http_->calls.size(), 2u);
}

TEST_F(ManagedIdentityTest, ImdsWithAUserAssignedIdentity) {
  auto t = Make({{"AZURE_CLIENT_ID", "0000-1111"}});
  EXPECT_STREQ(t->kind(), "imds");
  http_->Reply(200, TokenJson("tok", "\"" + std::to_string(kNowS + 600) + "\""));
  ASSERT_TRUE(t->Token().ok());
  const RecordedCall& c = http_->calls.at(0);
  EXPECT_EQ(c.url,
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
            "&resource=https%3A%2F%2Fstorage.azure.com%2F&client_id=0000-1111");
  EXPECT_EQ(c.Header("Metadata"), "true");
}

TEST_F(ManagedIdentityTest, RefusalsAndBadAnswersAreTyped) {
  auto t = Make({{"IDENTITY_ENDPOINT", "http://127.0.0.1:1/t"}, {"IDENTITY_HEADER", "h"}});
  http_->Reply(400, R"({"error":"invalid_request"})");
  http_->Reply(200, R"({"expires_on":"99999999999"})");
  http_->Reply(200, TokenJson("tok", "\"" + std::to_string(kNowS - 10) + "\""));
  http_->Reply(200, "not json");
  for (int i = 0; i < 4; ++i) {
    auto r = t->Token();
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.status().reason(), "store_auth") << i << ": " << r.status().ToString();
  }
  // No reply at all (the fake's failure): the endpoint could not be reached.
  auto r = t->Token();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST_F(ManagedIdentityTest, TheStoreSendsTheTokenAsABearerAndNoSignature) {
  auto tokens = Make({{"IDENTITY_ENDPOINT", "http://127.0.0.1:41741/t"}, {"IDENTITY_HEADER", "h"}});
  http_->Reply(200, TokenJson("tok-b", "\"" + std::to_string(kNowS + 3600) + "\""));
  AzureConfig c;
  c.account = "acct";
  c.endpoint = "https://acct.blob.core.windows.net";
  c.container = "models";
  c.tokens = std::shared_ptr<AccessTokenSource>(std::move(tokens));
  auto blob_http = std::make_unique<FakeHttpClient>();
  FakeHttpClient* blobs = blob_http.get();
  AzureStore store(std::move(c), std::move(blob_http), &clock_);
  blobs->Reply(200, "abc", {{"etag", "\"0x1\""}});
  auto got = store.Get("m/1/model.onnx");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const RecordedCall& call = blobs->calls.at(0);
  EXPECT_EQ(call.url, "https://acct.blob.core.windows.net/models/m/1/model.onnx");
  EXPECT_EQ(call.Header("Authorization"), "Bearer tok-b");
  EXPECT_EQ(call.Header("x-ms-version"), "2021-08-06");
  // A refusal names the identity's role, not a key.
  blobs->Reply(
      403, "<?xml version=\"1.0\"?><Error><Code>AuthorizationPermissionMismatch</Code></Error>");
  auto refused = store.Get("m/1/model.onnx");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().reason(), "store_auth");
  EXPECT_NE(refused.status().message().find("managed identity"), std::string::npos);
}

}  // namespace
}  // namespace modelfn
