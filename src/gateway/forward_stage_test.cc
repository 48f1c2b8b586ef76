#include "gateway/forward_stage.h"

#include <gtest/gtest.h>

#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::CountHeader;
using testing::FakeBackend;
using testing::FindHeader;
using testing::HeldContinuation;
using testing::MakeExchange;

class ForwardStageTest : public ::testing::Test {
 protected:
  ForwardStageTest() {
    fn_.name = "digits";
    fn_.variants = {{&backend_, 1}};
    fn_.total_weight = 1;
  }
  ExchangePtr Routed(std::string method, std::string target, std::string path) {
    auto ex = MakeExchange(std::move(method), std::move(target),
                           {{"content-type", "application/json"},
                            {"accept", "application/json"},
                            {"x-api-key", "secret"},
                            {"inference-header-content-length", "12"}},
                           "{\"inputs\":[1]}");
    ex->function = &fn_;
    ex->variant = &fn_.variants[0];
    ex->path = std::move(path);
    ex->request_id = "rid-1";
    ex->arrived_ns = 77;
    return ex;
  }
  FakeBackend backend_{"3"};
  FunctionRoute fn_;
  ForwardStage stage_;
  HeldContinuation next_;
};

TEST_F(ForwardStageTest, ForwardsWhatTheFunctionNeedsAndNoCredentials) {
  auto ex = Routed("HEAD", "/v2/models/digits/ready?x=1", "/v2/models/mnist/ready");
  EXPECT_EQ(stage_.OnRequest(ex, next_), Verdict::kDeferred);
  EXPECT_EQ(ex, nullptr);
  ASSERT_EQ(backend_.requests.size(), 1u);
  const ForwardRequest& fr = backend_.requests[0];
  EXPECT_EQ(fr.method, "GET");
  EXPECT_EQ(fr.path, "/v2/models/mnist/ready");
  EXPECT_EQ(fr.query, "x=1");
  EXPECT_EQ(fr.body, "{\"inputs\":[1]}");
  EXPECT_EQ(fr.content_type, "application/json");
  EXPECT_EQ(fr.request_id, "rid-1");
  EXPECT_EQ(fr.arrived_ns, 77);
  for (const auto& [k, v] : fr.headers) EXPECT_NE(k, "x-api-key");
  EXPECT_EQ(fr.headers.size(), 2u);  // accept, inference-header-content-length
  EXPECT_TRUE(next_.answered.empty());
}

TEST_F(ForwardStageTest, ReplyCompletesTheExchange) {
  auto ex = Routed("POST", "/v1/infer", "/v1/infer");
  stage_.OnRequest(ex, next_);
  ForwardReply reply;
  reply.status = 200;
  reply.content_type = "";
  reply.body = "{\"outputs\":{}}";
  reply.headers = {{"X-Request-Id", "from-instance"}, {"X-Custom", "1"}};
  reply.instance = "digits-3-1";
  reply.version = "3";
  reply.cold_start = true;
  backend_.ReplyNext(std::move(reply));
  ASSERT_EQ(next_.answered.size(), 1u);
  const Exchange& done = *next_.answered[0];
  EXPECT_TRUE(done.forwarded);
  EXPECT_EQ(done.response.status, 200);
  EXPECT_EQ(done.response.content_type, "application/json");
  EXPECT_EQ(done.response.body, "{\"outputs\":{}}");
  EXPECT_EQ(CountHeader(done.response, "X-Request-Id"), 0u);  // the gateway's id replaces it
  EXPECT_EQ(*FindHeader(done.response, "X-Custom"), "1");
  EXPECT_EQ(*FindHeader(done.response, "X-Modelfn-Version"), "3");
  EXPECT_EQ(*FindHeader(done.response, "X-Modelfn-Cold-Start"), "true");
  EXPECT_EQ(done.reply.instance, "digits-3-1");
  EXPECT_EQ(CountHeader(done.response, "X-Modelfn-Held-Batch"), 0u);  // it went alone
}

TEST_F(ForwardStageTest, AnAnswerFromAMergedInvocationSaysHowManyItCarried) {
  auto ex = Routed("POST", "/v1/infer", "/v1/infer");
  stage_.OnRequest(ex, next_);
  ForwardReply reply;
  reply.body = "{}";
  reply.instance = "digits-3-1";
  reply.held_batch = 12;
  backend_.ReplyNext(std::move(reply));
  ASSERT_EQ(next_.answered.size(), 1u);
  EXPECT_EQ(*FindHeader(next_.answered[0]->response, "X-Modelfn-Held-Batch"), "12");
  // Not one of the function's own headers: a response cache does not keep it.
  EXPECT_EQ(CountHeader(next_.answered[0]->response, "X-Modelfn-Held-Batch"), 1u);
  for (const auto& [k, v] : next_.answered[0]->reply.headers) EXPECT_NE(k, "X-Modelfn-Held-Batch");
}

TEST_F(ForwardStageTest, PlatformErrorsUnderV2TakeTheProtocolShape) {
  auto ex = Routed("POST", "/v2/models/digits/infer", "/v2/models/mnist/infer");
  ex->v2 = true;
  stage_.OnRequest(ex, next_);
  ForwardReply reply;
  reply.status = 429;
  reply.code = "throttled";
  reply.content_type = "application/problem+json";
  reply.body = R"({"type":"about:blank","status":429,"code":"throttled","detail":"busy"})";
  backend_.ReplyNext(std::move(reply));
  const Exchange& done = *next_.answered[0];
  EXPECT_EQ(done.response.status, 429);
  EXPECT_EQ(done.response.body, R"({"error":"busy","code":"throttled"})");
  EXPECT_EQ(done.response.content_type, "application/json");
  EXPECT_EQ(FindHeader(done.response, "X-Modelfn-Instance"), nullptr);
}

}  // namespace
}  // namespace modelfn::gateway
