#include "gateway/cors_stage.h"

#include <gtest/gtest.h>

#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::CodeOf;
using testing::FindHeader;
using testing::HeldContinuation;
using testing::MakeExchange;

TEST(CorsStageTest, AllowedPreflightIsAnsweredWithTheAllowedFields) {
  CorsStage stage({"https://app.example"});
  HeldContinuation next;
  auto ex =
      MakeExchange("OPTIONS", "/v1/infer",
                   {{"origin", "https://app.example"}, {"access-control-request-method", "POST"}});
  EXPECT_EQ(stage.OnRequest(ex, next), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 204);
  EXPECT_EQ(*FindHeader(ex->response, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(*FindHeader(ex->response, "Access-Control-Max-Age"), "600");
}

TEST(CorsStageTest, PreflightFromOtherOriginOrMethodIsForbidden) {
  CorsStage stage({"https://app.example"});
  HeldContinuation next;
  auto other =
      MakeExchange("OPTIONS", "/v1/infer",
                   {{"origin", "https://evil.example"}, {"access-control-request-method", "POST"}});
  EXPECT_EQ(stage.OnRequest(other, next), Verdict::kAnswered);
  EXPECT_EQ(other->response.status, 403);
  EXPECT_EQ(CodeOf(other->response), "forbidden");
  EXPECT_EQ(FindHeader(other->response, "Access-Control-Allow-Origin"), nullptr);
  auto del = MakeExchange(
      "OPTIONS", "/v1/infer",
      {{"origin", "https://app.example"}, {"access-control-request-method", "DELETE"}});
  stage.OnRequest(del, next);
  EXPECT_EQ(del->response.status, 403);
}

TEST(CorsStageTest, PlainOptionsListsTheMethods) {
  CorsStage stage({"*"});
  HeldContinuation next;
  auto ex = MakeExchange("OPTIONS", "/v1/infer");
  EXPECT_EQ(stage.OnRequest(ex, next), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 204);
  EXPECT_EQ(*FindHeader(ex->response, "Allow"), "GET, POST, OPTIONS");
}

TEST(CorsStageTest, AnswersToAllowedOriginsOnlyGetTheFields) {
  CorsStage stage({"https://app.example"});
  HeldContinuation next;
  auto ok = MakeExchange("POST", "/v1/infer", {{"origin", "https://app.example"}});
  EXPECT_EQ(stage.OnRequest(ok, next), Verdict::kNext);
  stage.OnAnswer(*ok);
  EXPECT_EQ(*FindHeader(ok->response, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(*FindHeader(ok->response, "Vary"), "Origin");
  auto other = MakeExchange("POST", "/v1/infer", {{"origin", "https://evil.example"}});
  stage.OnAnswer(*other);
  EXPECT_TRUE(other->response.headers.empty());
  auto none = MakeExchange("POST", "/v1/infer");
  stage.OnAnswer(*none);
  EXPECT_TRUE(none->response.headers.empty());
}

TEST(CorsStageTest, WildcardAllowsAnyOrigin) {
  CorsStage stage({"*"});
  EXPECT_TRUE(stage.OriginAllowed("https://anything.example"));
  CorsStage none({});
  EXPECT_FALSE(none.OriginAllowed("https://anything.example"));
}

}  // namespace
}  // namespace modelfn::gateway
