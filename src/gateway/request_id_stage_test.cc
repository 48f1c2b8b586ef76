#include "gateway/request_id_stage.h"

#include <gtest/gtest.h>

#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::FindHeader;
using testing::HeldContinuation;
using testing::MakeExchange;

TEST(RequestIdStageTest, SafeClientIdIsEchoed) {
  RequestIdStage stage;
  HeldContinuation next;
  auto ex = MakeExchange("POST", "/v2/models/m/infer", {{"x-request-id", "abc-123"}});
  EXPECT_EQ(stage.OnRequest(ex, next), Verdict::kNext);
  EXPECT_EQ(ex->request_id, "abc-123");
  EXPECT_TRUE(ex->v2);
  stage.OnAnswer(*ex);
  ASSERT_NE(FindHeader(ex->response, "X-Request-Id"), nullptr);
  EXPECT_EQ(*FindHeader(ex->response, "X-Request-Id"), "abc-123");
}

TEST(RequestIdStageTest, UnsafeOrMissingIdIsReplaced) {
  RequestIdStage stage;
  HeldContinuation next;
  auto ex = MakeExchange("POST", "/v1/infer", {{"x-request-id", "a b\"<script>"}});
  stage.OnRequest(ex, next);
  EXPECT_EQ(ex->request_id.size(), 32u);
  EXPECT_FALSE(ex->v2);
  auto other = MakeExchange("POST", "/v1/infer");
  stage.OnRequest(other, next);
  EXPECT_EQ(other->request_id.size(), 32u);
  EXPECT_NE(other->request_id, ex->request_id);
  for (const std::string& id : {ex->request_id, other->request_id}) {
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  }
}

TEST(RequestIdStageTest, EarlyAnswersCarryTheId) {
  RequestIdStage stage;
  HttpRequest head;
  head.headers = {{"x-request-id", "early-1"}};
  HttpResponse early;
  stage.OnEarlyAnswer(head, &early);
  ASSERT_NE(FindHeader(early, "X-Request-Id"), nullptr);
  EXPECT_EQ(*FindHeader(early, "X-Request-Id"), "early-1");
}

}  // namespace
}  // namespace modelfn::gateway
