// The scale-from-zero holder in the pool: requests that waited for an instance travel to it
// merged into one /v1/batch send (held_batch.h), and each still gets exactly one answer of its
// own, whatever the instance does with the send.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "pool/pool_test_fixture.h"

namespace modelfn {
namespace {

using pool_testing::kMs;
using pool_testing::kSec;

class HoldTest : public pool_testing::PoolTest {
 protected:
  void MakeHolding(int max_instances, int held_batch, int max_queue = 64) {
    FunctionConfig fn = Fn(0, max_instances);
    fn.held_batch = held_batch;
    fn.max_queue = max_queue;
    Make(fn);
  }
  // A request whose body is {"x":n}; `n` also names its reply.
  void SubmitJson(int n, std::shared_ptr<std::atomic<bool>> gone = nullptr) {
    ForwardRequest r;
    r.path = "/v1/infer";
    r.content_type = "application/json";
    r.request_id = "req-" + std::to_string(n);
    r.body = R"({"x":)" + std::to_string(n) + "}";
    r.client_gone = std::move(gone);
    pool_->Submit(std::move(r), replies_.Catch(n));
  }
  // The sends instance `i` holds, as (id, request).
  std::vector<std::pair<uint64_t, std::shared_ptr<const ForwardRequest>>> Sends(size_t i) {
    std::vector<std::pair<uint64_t, std::shared_ptr<const ForwardRequest>>> out;
    auto in = launcher_.at(i);
    for (uint64_t id : in->held()) out.emplace_back(id, in->request(id));
    return out;
  }
  // The x of each item a /v1/batch send carries.
  static std::vector<int64_t> Items(const ForwardRequest& r) {
    std::vector<int64_t> xs;
    auto body = Json::Parse(r.body);
    EXPECT_TRUE(body.ok()) << r.body;
    if (!body.ok()) return xs;
    for (const Json& item : body->Find("items")->AsArray()) xs.push_back(item.Find("x")->AsInt64());
    return xs;
  }
  // What modelfn-fn answers to a /v1/batch of those items: {"y": x} each, a typed error for a
  // negative x.
  static std::string BatchAnswer(const std::vector<int64_t>& xs) {
    std::string body = R"({"model":"digits","version":"1","results":[)";
    for (size_t i = 0; i < xs.size(); ++i) {
      if (i > 0) body += ",";
      if (xs[i] < 0) {
        body += R"({"error":{"type":"urn:modelfn:problem:shape_mismatch","title":"Bad Request",)"
                R"("status":400,"code":"shape_mismatch","detail":"bad row"}})";
      } else {
        body += R"({"outputs":{"y":)" + std::to_string(xs[i]) + "}}";
      }
    }
    return body + "]}";
  }
};

TEST_F(HoldTest, RequestsHeldFromZeroReachTheFirstInstanceAsOneMergedSend) {
  MakeHolding(1, 4);
  for (int n = 1; n <= 6; ++n) SubmitJson(n);
  ASSERT_EQ(launcher_.count(), 1u);
  clock_.Advance(30 * kMs);
  launcher_.at(0)->MakeReady();
  auto sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  const ForwardRequest& merged = *sends[0].second;
  EXPECT_EQ(merged.path, "/v1/batch");
  EXPECT_EQ(merged.request_id, "req-1");
  EXPECT_EQ(Items(merged), (std::vector<int64_t>{1, 2, 3, 4}));
  ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 200, BatchAnswer({1, 2, 3, 4})));
  for (int n = 1; n <= 4; ++n) {
    ASSERT_TRUE(replies_.Has(n)) << n;
    ForwardReply r = replies_.Get(n);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body,
              R"({"model":"digits","version":"1","outputs":{"y":)" + std::to_string(n) + "}}");
    EXPECT_TRUE(r.cold_start) << n;
    EXPECT_EQ(r.instance, "digits-1-1");
    EXPECT_DOUBLE_EQ(r.queue_ms, 30);
  }
  EXPECT_FALSE(replies_.Has(5));
  // The two left go together in the next send.
  sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(Items(*sends[0].second), (std::vector<int64_t>{5, 6}));
  ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 200, BatchAnswer({5, 6})));
  EXPECT_EQ(replies_.Get(6).body, R"({"model":"digits","version":"1","outputs":{"y":6}})");
  EXPECT_EQ(replies_.size(), 6u);
  EXPECT_EQ(replies_.MaxCount(), 1);
  PoolCounters c = Counters();
  EXPECT_EQ(c.held_batches, 2u);
  EXPECT_EQ(c.held_requests, 6u);
  // The histogram of merged sizes: one of 4 (bucket "at most 4"), one of 2 ("at most 2").
  EXPECT_EQ(c.held_sizes[0], 1u);
  EXPECT_EQ(c.held_sizes[1], 1u);
  EXPECT_EQ(c.held_size_sum, 6u);
  EXPECT_EQ(c.cold_requests, 6u);
  EXPECT_EQ(c.inits, 1u);
  EXPECT_EQ(pool_->Snapshot().idle, 1);
}

TEST_F(HoldTest, ABadRequestGetsItsOwnErrorAndItsNeighboursTheirAnswers) {
  MakeHolding(1, 8);
  SubmitJson(1);
  SubmitJson(-2);
  SubmitJson(3);
  launcher_.at(0)->MakeReady();
  auto sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 200, BatchAnswer({1, -2, 3})));
  EXPECT_EQ(replies_.Get(1).status, 200);
  EXPECT_EQ(replies_.Get(3).status, 200);
  ForwardReply bad = replies_.Get(-2);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.content_type, "application/problem+json");
  auto problem = Json::Parse(bad.body);
  ASSERT_TRUE(problem.ok());
  EXPECT_EQ(problem->Find("code")->AsString(), "shape_mismatch");
}

TEST_F(HoldTest, RequestsThatCannotTravelMergedGoAlone) {
  MakeHolding(1, 8);
  SubmitJson(1);
  Submit(2);  // body "2": not a JSON object
  ForwardRequest get;
  get.method = "GET";
  get.path = "/v1/health";
  pool_->Submit(std::move(get), replies_.Catch(3));
  SubmitJson(4);
  launcher_.at(0)->MakeReady();
  auto sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(Items(*sends[0].second), (std::vector<int64_t>{1, 4}));
  ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 200, BatchAnswer({1, 4})));
  // Then the others, one send each, as they are.
  sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].second->path, "/v1/infer");
  EXPECT_EQ(sends[0].second->body, "2");
  ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 200, "{}"));
  sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].second->path, "/v1/health");
  ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 200, "{}"));
  EXPECT_EQ(replies_.size(), 4u);
  EXPECT_EQ(replies_.MaxCount(), 1);
}

TEST_F(HoldTest, AnAnswerThatCannotBeSplitSendsEachRequestAgainAlone) {
  MakeHolding(1, 8);
  for (int n = 1; n <= 3; ++n) SubmitJson(n);
  clock_.Advance(10 * kMs);  // they waited for the init: cold
  launcher_.at(0)->MakeReady();
  auto sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  // The invocation as a whole failed (too large an answer, a function error...).
  ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 500, R"({"code":"response_too_large"})"));
  EXPECT_EQ(replies_.size(), 0u);
  for (int n = 1; n <= 3; ++n) {
    sends = Sends(0);
    ASSERT_EQ(sends.size(), 1u);
    EXPECT_EQ(sends[0].second->path, "/v1/infer");
    EXPECT_EQ(sends[0].second->body, R"({"x":)" + std::to_string(n) + "}");
    ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 200, "single"));
    EXPECT_EQ(replies_.Get(n).body, "single");
  }
  PoolCounters c = Counters();
  EXPECT_EQ(c.held_resends, 1u);
  EXPECT_EQ(c.held_requests, 0u);  // none was answered from the merged invocation
  EXPECT_EQ(c.cold_requests, 3u);  // each counted once, though sent twice
  EXPECT_EQ(replies_.MaxCount(), 1);
  EXPECT_EQ(launcher_.count(), 1u);  // the instance was fine and stayed
}

TEST_F(HoldTest, AnInstanceThatDiesBeforeTakingAMergedSendHandsEveryRequestToTheNext) {
  MakeHolding(1, 8);
  for (int n = 1; n <= 3; ++n) SubmitJson(n);
  launcher_.at(0)->MakeReady();
  ASSERT_EQ(Sends(0).size(), 1u);
  launcher_.at(0)->Crash(/*took_requests=*/false);
  Advance(1 * kMs);
  ASSERT_EQ(launcher_.count(), 2u);
  launcher_.at(1)->MakeReady();
  auto sends = Sends(1);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(Items(*sends[0].second), (std::vector<int64_t>{1, 2, 3}));
  ASSERT_TRUE(launcher_.at(1)->Answer(sends[0].first, 200, BatchAnswer({1, 2, 3})));
  for (int n = 1; n <= 3; ++n) EXPECT_EQ(replies_.Get(n).status, 200);
  EXPECT_EQ(replies_.MaxCount(), 1);
}

TEST_F(HoldTest, AnInstanceThatDiesDuringAMergedSendFailsEachRequestOnce) {
  MakeHolding(1, 8);
  for (int n = 1; n <= 3; ++n) SubmitJson(n);
  launcher_.at(0)->MakeReady();
  launcher_.at(0)->Crash(/*took_requests=*/true);
  Advance(1 * kMs);
  for (int n = 1; n <= 3; ++n) EXPECT_EQ(replies_.Code(n), "instance_crashed") << n;
  EXPECT_EQ(replies_.MaxCount(), 1);
}

TEST_F(HoldTest, AMergedSendMayTakeTheTimeoutOncePerRequestAndNoLonger) {
  MakeHolding(1, 8);  // timeout_s 30
  for (int n = 1; n <= 3; ++n) SubmitJson(n);
  launcher_.at(0)->MakeReady();
  auto sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  // Alone, each would have had 30 s after the ones before it: the three together get 90 s.
  EXPECT_DOUBLE_EQ(sends[0].second->timeout_s, 90);
  Advance(89 * kSec);
  EXPECT_EQ(replies_.size(), 0u);
  EXPECT_FALSE(launcher_.at(0)->killed());
  Advance(2 * kSec);
  for (int n = 1; n <= 3; ++n) EXPECT_EQ(replies_.Code(n), "timeout") << n;
  EXPECT_TRUE(launcher_.at(0)->killed());
  // A late answer changes nothing.
  launcher_.at(0)->Answer(sends[0].first, 200, BatchAnswer({1, 2, 3}));
  EXPECT_EQ(replies_.MaxCount(), 1);
  EXPECT_EQ(replies_.Code(1), "timeout");
}

TEST_F(HoldTest, ARequestWhoseClientLeftDoesNotRideAlong) {
  MakeHolding(1, 8);
  auto gone = std::make_shared<std::atomic<bool>>(false);
  SubmitJson(1);
  SubmitJson(2, gone);
  SubmitJson(3);
  gone->store(true);
  launcher_.at(0)->MakeReady();
  auto sends = Sends(0);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(Items(*sends[0].second), (std::vector<int64_t>{1, 3}));
  ASSERT_TRUE(launcher_.at(0)->Answer(sends[0].first, 200, BatchAnswer({1, 3})));
  EXPECT_EQ(replies_.Code(2), "client_closed");
  EXPECT_EQ(replies_.Get(3).status, 200);
  EXPECT_EQ(Counters().abandoned, 1u);
}

TEST_F(HoldTest, BusyInstancesTakeTheQueueInMergedSendsToo) {
  MakeHolding(2, 16);
  SubmitJson(1);
  launcher_.at(0)->MakeReady();
  ASSERT_EQ(Sends(0).size(), 1u);
  EXPECT_EQ(Sends(0)[0].second->path, "/v1/infer");  // alone: nothing else waited
  for (int n = 2; n <= 5; ++n) SubmitJson(n);        // above capacity: a second instance starts
  ASSERT_EQ(launcher_.count(), 2u);
  launcher_.at(1)->MakeReady();
  auto sends = Sends(1);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(Items(*sends[0].second), (std::vector<int64_t>{2, 3, 4, 5}));
  ASSERT_TRUE(launcher_.at(1)->Answer(sends[0].first, 200, BatchAnswer({2, 3, 4, 5})));
  ASSERT_TRUE(launcher_.at(0)->Answer(Sends(0)[0].first, 200, "{}"));
  EXPECT_EQ(replies_.size(), 5u);
  EXPECT_EQ(replies_.Get(1).instance, "digits-1-1");
  for (int n = 2; n <= 5; ++n) EXPECT_EQ(replies_.Get(n).instance, "digits-1-2") << n;
}

}  // namespace
}  // namespace modelfn
