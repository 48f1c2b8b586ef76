#include "gateway/cache_stage.h"

#include <gtest/gtest.h>

#include "gateway/forward_stage.h"
#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::CountHeader;
using testing::FakeBackend;
using testing::FindHeader;
using testing::HeldContinuation;
using testing::MakeExchange;

class CacheStageTest : public ::testing::Test {
 protected:
  CacheStageTest() {
    fn_.name = "digits";
    fn_.response_cache = true;
    fn_.variants = {{&backend_, 1}};
    fn_.total_weight = 1;
  }
  ExchangePtr Routed(std::string body) {
    auto ex =
        MakeExchange("POST", "/v1/infer", {{"content-type", "application/json"}}, std::move(body));
    ex->function = &fn_;
    ex->variant = &fn_.variants[0];
    ex->path = "/v1/infer";
    return ex;
  }
  // What the forward stage leaves once the backend replied.
  void Reply(Exchange& ex, int status, std::string code = "") {
    ForwardReply r;
    r.status = status;
    r.code = std::move(code);
    r.body = "{\"outputs\":[" + std::to_string(++replies_) + "]}";
    r.version = "3";
    r.headers = {{"X-Request-Id", "old"}, {"X-Custom", "1"}};
    ForwardStage::TakeReply(ex, std::move(r));
  }
  FakeBackend backend_{"3"};
  FunctionRoute fn_;
  GatewayMetrics metrics_;
  ResponseCache store_;
  HeldContinuation next_;
  int replies_ = 0;
};

TEST_F(CacheStageTest, SecondIdenticalRequestIsAHit) {
  CacheStage cache(&store_, &metrics_);
  auto first = Routed("{\"inputs\":[1]}");
  EXPECT_EQ(cache.OnRequest(first, next_), Verdict::kNext);
  Reply(*first, 200);
  cache.OnAnswer(*first);
  EXPECT_EQ(store_.size(), 1u);

  auto second = Routed("{\"inputs\":[1]}");
  EXPECT_EQ(cache.OnRequest(second, next_), Verdict::kAnswered);
  EXPECT_EQ(second->response.body, first->response.body);
  EXPECT_EQ(*FindHeader(second->response, "X-Modelfn-Cache"), "hit");
  EXPECT_EQ(*FindHeader(second->response, "X-Modelfn-Version"), "3");
  EXPECT_EQ(*FindHeader(second->response, "X-Custom"), "1");
  EXPECT_EQ(CountHeader(second->response, "X-Request-Id"), 0u);

  auto different = Routed("{\"inputs\":[2]}");
  EXPECT_EQ(cache.OnRequest(different, next_), Verdict::kNext);
}

TEST_F(CacheStageTest, OnlyTheFunctionsOwn200IsKept) {
  CacheStage cache(&store_, &metrics_);
  auto failed = Routed("a");
  cache.OnRequest(failed, next_);
  Reply(*failed, 503, "overloaded");
  cache.OnAnswer(*failed);
  auto bad = Routed("b");
  cache.OnRequest(bad, next_);
  Reply(*bad, 400);
  cache.OnAnswer(*bad);
  auto refused_before_forward = Routed("c");
  cache.OnRequest(refused_before_forward, next_);
  refused_before_forward->response.status = 200;  // answered, but not by the backend
  cache.OnAnswer(*refused_before_forward);
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(CacheStageTest, OffOrMetadataIsNeverCached) {
  CacheStage cache(&store_, &metrics_);
  auto meta = Routed("");
  meta->v2_meta = true;
  EXPECT_EQ(cache.OnRequest(meta, next_), Verdict::kNext);
  EXPECT_TRUE(meta->cache_key.empty());
  fn_.response_cache = false;
  auto off = Routed("x");
  EXPECT_EQ(cache.OnRequest(off, next_), Verdict::kNext);
  EXPECT_TRUE(off->cache_key.empty());
}

TEST_F(CacheStageTest, OldestEntryIsEvictedAtCapacity) {
  ResponseCache store(2);
  CacheStage cache(&store, &metrics_);
  for (const char* body : {"1", "2", "3"}) {
    auto ex = Routed(body);
    cache.OnRequest(ex, next_);
    Reply(*ex, 200);
    cache.OnAnswer(*ex);
  }
  EXPECT_EQ(store.size(), 2u);
  auto oldest = Routed("1");
  EXPECT_EQ(cache.OnRequest(oldest, next_), Verdict::kNext);
  auto newest = Routed("3");
  EXPECT_EQ(cache.OnRequest(newest, next_), Verdict::kAnswered);
}

TEST_F(CacheStageTest, KeyCoversTheVersion) {
  CacheStage cache(&store_, &metrics_);
  auto ex = Routed("same");
  cache.OnRequest(ex, next_);
  Reply(*ex, 200);
  cache.OnAnswer(*ex);
  backend_.version_ = "4";  // promoted
  auto after = Routed("same");
  EXPECT_EQ(cache.OnRequest(after, next_), Verdict::kNext);
}

}  // namespace
}  // namespace modelfn::gateway
