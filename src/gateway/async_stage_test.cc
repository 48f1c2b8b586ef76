#include "gateway/async_stage.h"

#include <gtest/gtest.h>

#include <map>

#include "common/json.h"
#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::FindHeader;
using testing::HeldContinuation;
using testing::MakeExchange;

// The queue in memory: ids "inv-1", "inv-2"..., keys remembered per function.
class FakeQueue final : public AsyncQueue {
 public:
  StatusOr<Accepted> Submit(const std::string& function, ForwardRequest request,
                            const std::string& key) override {
    if (down) return Status(StatusCode::kUnavailable, "disk full", "async_store_unavailable");
    if (!key.empty()) {
      if (auto it = keys.find(function + "/" + key); it != keys.end())
        return Accepted{it->second, false};
    }
    std::string id = "inv-" + std::to_string(submitted.size() + 1);
    submitted.emplace_back(function, std::move(request));
    if (!key.empty()) keys[function + "/" + key] = id;
    return Accepted{id, true};
  }
  StatusOr<std::string> Describe(const std::string& id) override {
    if (id.rfind("inv-", 0) != 0) return Status(StatusCode::kNotFound, "no invocation " + id);
    return R"({"id":")" + id + R"(","status":"succeeded"})";
  }
  bool down = false;
  std::vector<std::pair<std::string, ForwardRequest>> submitted;
  std::map<std::string, std::string> keys;
};

class AsyncStageTest : public ::testing::Test {
 protected:
  AsyncStageTest()
      : stage_(&queue_, AsyncStage::Role::kSubmissions), reads_(&queue_, AsyncStage::Role::kReads) {
    fn_.name = "digits";
  }
  ExchangePtr Submission(std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("content-type", "application/json");
    headers.emplace_back("authorization", "Bearer secret");
    auto ex = MakeExchange("POST", "/v1/async/digits?x=1", headers, R"({"inputs":[1]})");
    ex->function = &fn_;
    ex->path = "/v1/infer";
    ex->async_submit = true;
    ex->request_id = "rid-7";
    return ex;
  }
  FakeQueue queue_;
  FunctionRoute fn_;
  AsyncStage stage_;
  AsyncStage reads_;
  HeldContinuation next_;
};

TEST_F(AsyncStageTest, ASubmissionIsQueuedAndAnswered202WithWhereToLook) {
  auto ex = Submission();
  ASSERT_EQ(stage_.OnRequest(ex, next_), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 202);
  EXPECT_EQ(*FindHeader(ex->response, "Location"), "/v1/async/inv-1");
  auto body = Json::Parse(ex->response.body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->Find("id")->AsString(), "inv-1");
  EXPECT_EQ(body->Find("status")->AsString(), "queued");
  ASSERT_EQ(queue_.submitted.size(), 1u);
  const ForwardRequest& fr = queue_.submitted[0].second;
  EXPECT_EQ(queue_.submitted[0].first, "digits");
  EXPECT_EQ(fr.path, "/v1/infer");
  EXPECT_EQ(fr.query, "x=1");
  EXPECT_EQ(fr.body, R"({"inputs":[1]})");
  EXPECT_EQ(fr.content_type, "application/json");
  EXPECT_EQ(fr.request_id, "rid-7");
  for (const auto& [k, v] : fr.headers) EXPECT_NE(k, "authorization");  // no credentials kept
}

TEST_F(AsyncStageTest, ARepeatedIdempotencyKeyGivesTheFirstInvocation) {
  auto a = Submission({{"idempotency-key", "order-42"}});
  stage_.OnRequest(a, next_);
  auto b = Submission({{"idempotency-key", "order-42"}});
  ASSERT_EQ(stage_.OnRequest(b, next_), Verdict::kAnswered);
  EXPECT_EQ(b->response.status, 200);
  EXPECT_EQ(*FindHeader(b->response, "Idempotent-Replayed"), "true");
  EXPECT_EQ(*FindHeader(b->response, "Location"), "/v1/async/inv-1");
  EXPECT_EQ(queue_.submitted.size(), 1u);
  auto c = Submission({{"idempotency-key", "order-43"}});
  stage_.OnRequest(c, next_);
  EXPECT_EQ(c->response.status, 202);
  EXPECT_EQ(queue_.submitted.size(), 2u);
}

TEST_F(AsyncStageTest, BadKeysAndAnUnavailableQueueAreTypedErrors) {
  for (std::string bad :
       {std::string(), std::string(256, 'k'), std::string("a b"), std::string("caf\xc3\xa9")}) {
    auto ex = Submission({{"idempotency-key", bad}});
    ASSERT_EQ(stage_.OnRequest(ex, next_), Verdict::kAnswered);
    EXPECT_EQ(ex->response.status, 400) << bad;
  }
  queue_.down = true;
  auto ex = Submission();
  ASSERT_EQ(stage_.OnRequest(ex, next_), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 503);
  EXPECT_NE(ex->response.body.find("async_unavailable"), std::string::npos);
}

TEST_F(AsyncStageTest, StatusReadsAnswerTheRecordOr404) {
  auto ex = MakeExchange("GET", "/v1/async/inv-3");
  ex->async_id = "inv-3";
  EXPECT_EQ(stage_.OnRequest(ex, next_), Verdict::kNext);  // not the submissions' stage
  ASSERT_EQ(reads_.OnRequest(ex, next_), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 200);
  EXPECT_NE(ex->response.body.find("succeeded"), std::string::npos);
  ex = MakeExchange("GET", "/v1/async/zzz");
  ex->async_id = "zzz";
  reads_.OnRequest(ex, next_);
  EXPECT_EQ(ex->response.status, 404);
}

TEST_F(AsyncStageTest, ADryRunInvokeIsAnswered204AndQueuesNothing) {
  auto ex = MakeExchange("POST", "/2015-03-31/functions/digits/invocations");
  ex->function = &fn_;
  ex->lambda_invoke = true;
  ex->invocation_type = "DryRun";
  ASSERT_EQ(stage_.OnRequest(ex, next_), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 204);
  EXPECT_TRUE(queue_.submitted.empty());
}

TEST_F(AsyncStageTest, OtherRequestsPass) {
  auto ex = MakeExchange("POST", "/v1/infer");
  EXPECT_EQ(stage_.OnRequest(ex, next_), Verdict::kNext);
  EXPECT_EQ(reads_.OnRequest(ex, next_), Verdict::kNext);
  auto sub = Submission();
  EXPECT_EQ(reads_.OnRequest(sub, next_), Verdict::kNext);
}

}  // namespace
}  // namespace modelfn::gateway
