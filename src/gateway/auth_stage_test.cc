#include "gateway/auth_stage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "gateway/jwt_testing.h"
#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::CodeOf;
using testing::FindHeader;
using testing::HeldContinuation;
using testing::MakeExchange;

constexpr int64_t kSec = 1'000'000'000;

std::shared_ptr<const RouteTable> Routes() {
  return std::make_shared<RouteTable>(std::vector<LocalRoute>{
      {"/v1/health", "application/json", [] { return "{}"; }, false, nullptr},
      {"/metrics", "text/plain", [] { return ""; }, true, nullptr}});
}

class KeyAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/auth_keys" + std::to_string(getpid()) + ".db";
    unlink(path_.c_str());
    auto store = KeyStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    keys_ = std::move(store).value();
    auto k = keys_->Create("alice", "free", "2026-11-28T00:00:00.000Z");
    ASSERT_TRUE(k.ok());
    key_ = k->second;
    id_ = k->first.id;
    AuthOptions o;
    o.keys = keys_.get();
    stage_ = std::make_unique<AuthStage>(o, table_, &metrics_, &clock_, nullptr);
  }
  void TearDown() override {
    stage_.reset();
    keys_.reset();  // closed first: SQLite removes its -wal and -shm files on close
    for (const char* suffix : {"", "-wal", "-shm"}) unlink((path_ + suffix).c_str());
  }
  HttpRequest Head(std::string method, std::string path,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest h;
    h.method = std::move(method);
    h.path = std::move(path);
    h.headers = std::move(headers);
    return h;
  }
  std::string path_, key_, id_;
  std::unique_ptr<KeyStore> keys_;
  std::shared_ptr<const RouteTable> table_ = Routes();
  GatewayMetrics metrics_;
  FakeClock clock_;
  std::unique_ptr<AuthStage> stage_;
  HeldContinuation next_;
};

TEST_F(KeyAuthTest, HeadWithoutOrWithWrongKeyIsRefusedBeforeTheBody) {
  HttpRequest none = Head("POST", "/v1/infer");
  HttpResponse early;
  EXPECT_FALSE(stage_->OnHead(&none, &early));
  EXPECT_EQ(early.status, 401);
  EXPECT_EQ(CodeOf(early), "unauthorized");
  HttpRequest wrong = Head("POST", "/v2/models/m/infer", {{"x-api-key", "mfn_0000000_x"}});
  HttpResponse early2;
  EXPECT_FALSE(stage_->OnHead(&wrong, &early2));
  EXPECT_EQ(early2.status, 401);
  EXPECT_NE(early2.body.find("\"error\""), std::string::npos);  // the /v2 shape
  EXPECT_NE(metrics_.Render().find("missing_key"), std::string::npos);
}

TEST_F(KeyAuthTest, RevokedKeyIsForbidden) {
  ASSERT_TRUE(keys_->Revoke("alice", "2026-11-28T01:00:00.000Z").ok());
  HttpRequest h = Head("POST", "/v1/infer", {{"x-api-key", key_}});
  HttpResponse early;
  EXPECT_FALSE(stage_->OnHead(&h, &early));
  EXPECT_EQ(early.status, 403);
}

TEST_F(KeyAuthTest, ValidKeyPrincipalTravelsFromHeadToRequest) {
  auto ex = MakeExchange("POST", "/v1/infer", {{"x-api-key", key_}});
  HttpResponse early;
  ASSERT_TRUE(stage_->OnHead(&ex->request, &early));
  // The stored principal is used: the key is not looked up again.
  ex->request.headers.clear();
  EXPECT_EQ(stage_->OnRequest(ex, next_), Verdict::kNext);
  EXPECT_EQ(ex->principal.id, "key:" + id_);
  EXPECT_EQ(ex->principal.plan, "free");
}

TEST_F(KeyAuthTest, WithoutAHeadCheckTheRequestIsChecked) {
  auto ex = MakeExchange("POST", "/v1/infer");
  EXPECT_EQ(stage_->OnRequest(ex, next_), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 401);
}

TEST_F(KeyAuthTest, OpenRoutesAndPreflightsNeedNoKeyButTakeNoLargeBody) {
  HttpRequest health = Head("GET", "/v1/health");
  HttpResponse early;
  EXPECT_TRUE(stage_->OnHead(&health, &early));
  HttpRequest preflight = Head("OPTIONS", "/v1/infer");
  EXPECT_TRUE(stage_->OnHead(&preflight, &early));
  HttpRequest big = Head("GET", "/v1/health", {{"content-length", "10000000"}});
  EXPECT_FALSE(stage_->OnHead(&big, &early));
  EXPECT_EQ(early.status, 413);
  HttpRequest chunked = Head("OPTIONS", "/v1/infer", {{"transfer-encoding", "chunked"}});
  HttpResponse early2;
  EXPECT_FALSE(stage_->OnHead(&chunked, &early2));
  // A local route that is not open needs the key.
  HttpRequest metrics = Head("GET", "/metrics");
  HttpResponse early3;
  EXPECT_FALSE(stage_->OnHead(&metrics, &early3));
  EXPECT_EQ(early3.status, 401);
}

TEST_F(KeyAuthTest, DatabaseGoneFailsClosed) {
  unlink(path_.c_str());
  HttpRequest h = Head("POST", "/v1/infer", {{"x-api-key", key_}});
  HttpResponse early;
  EXPECT_FALSE(stage_->OnHead(&h, &early));
  EXPECT_EQ(early.status, 503);
  EXPECT_EQ(CodeOf(early), "auth_unavailable");
}

TEST(AuthStageTest, OffPassesEverything) {
  auto table = Routes();
  GatewayMetrics metrics;
  FakeClock clock;
  AuthStage stage(AuthOptions{}, table, &metrics, &clock, nullptr);
  HttpRequest h;
  h.method = "POST";
  h.path = "/v1/infer";
  h.headers = {{"content-length", "99999999"}};
  HttpResponse early;
  EXPECT_TRUE(stage.OnHead(&h, &early));
  HeldContinuation next;
  auto ex = MakeExchange("POST", "/v1/infer");
  EXPECT_EQ(stage.OnRequest(ex, next), Verdict::kNext);
  EXPECT_EQ(ex->principal.id, "");
}

TEST(AuthStageTest, BearerTokenOnTheFakeClock) {
  jwt_testing::Pkey key = jwt_testing::NewP256Key();
  auto jwks = JwksVerifier::FromJwks(R"({"keys":[)" + jwt_testing::P256Jwk(key.get(), "k") + "]}");
  ASSERT_TRUE(jwks.ok());
  auto table = Routes();
  GatewayMetrics metrics;
  FakeClock clock(1'780'000'000 * kSec);
  AuthOptions o;
  o.jwks = jwks->get();
  o.jwt_policy.leeway_s = 0;
  AuthStage stage(o, table, &metrics, &clock, nullptr);
  std::string token =
      jwt_testing::SignEs256(key.get(), R"({"alg":"ES256"})", R"({"sub":"bob","exp":1780000010})");
  auto ex = MakeExchange("POST", "/v1/infer", {{"authorization", "Bearer " + token}});
  HeldContinuation next;
  EXPECT_EQ(stage.OnRequest(ex, next), Verdict::kNext);
  EXPECT_EQ(ex->principal.id, "jwt:bob");

  HttpRequest missing;
  missing.method = "POST";
  missing.path = "/v1/infer";
  HttpResponse early;
  EXPECT_FALSE(stage.OnHead(&missing, &early));
  EXPECT_EQ(*FindHeader(early, "WWW-Authenticate"), "Bearer");

  clock.Advance(11 * kSec);
  auto late = MakeExchange("POST", "/v1/infer", {{"authorization", "bearer " + token}});
  EXPECT_EQ(stage.OnRequest(late, next), Verdict::kAnswered);
  EXPECT_EQ(late->response.status, 401);
  EXPECT_NE(late->response.body.find("expired"), std::string::npos);
  EXPECT_EQ(*FindHeader(late->response, "WWW-Authenticate"), "Bearer error=\"invalid_token\"");
}

}  // namespace
}  // namespace modelfn::gateway
