#include "gateway/plan_stage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::CodeOf;
using testing::FindHeader;
using testing::HeldContinuation;
using testing::MakeExchange;

constexpr int64_t kSec = 1'000'000'000;

class PlanStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/plan_keys" + std::to_string(getpid()) + ".db";
    unlink(path_.c_str());
    auto store = KeyStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    keys_ = std::move(store).value();
    auto k = keys_->Create("alice", "free", "2026-11-28T00:00:00.000Z");
    ASSERT_TRUE(k.ok());
    key_id_ = k->first.id;
  }
  void TearDown() override { unlink(path_.c_str()); }
  ExchangePtr Keyed(std::string plan = "free") {
    auto ex = MakeExchange("POST", "/v1/infer");
    ex->principal = {"key:" + key_id_, std::move(plan)};
    return ex;
  }
  std::string path_, key_id_;
  std::unique_ptr<KeyStore> keys_;
  GatewayMetrics metrics_;
  FakeClock clock_{1'764'288'000 * kSec};  // 2025-11-28T00:00:00Z
  HeldContinuation next_;
};

TEST_F(PlanStageTest, KnownPlanIsAttachedUnknownIsForbidden) {
  PlanStage stage({{"free", 1, 2, 0, 0}}, keys_.get());
  auto ex = Keyed();
  EXPECT_EQ(stage.OnRequest(ex, next_), Verdict::kNext);
  ASSERT_NE(ex->plan, nullptr);
  EXPECT_EQ(ex->plan->name, "free");
  auto gone = Keyed("gold");
  EXPECT_EQ(stage.OnRequest(gone, next_), Verdict::kAnswered);
  EXPECT_EQ(gone->response.status, 403);
  auto anonymous = MakeExchange("POST", "/v1/infer");
  EXPECT_EQ(stage.OnRequest(anonymous, next_), Verdict::kNext);
  EXPECT_EQ(anonymous->plan, nullptr);
}

TEST_F(PlanStageTest, RateLimitRefusesPastTheBurstAndRefills) {
  PlanConfig plan{"free", 1, 2, 0, 0};
  RateLimiter buckets;
  RateLimitStage stage(&buckets, &metrics_, &clock_);
  auto take = [&] {
    auto ex = Keyed();
    ex->plan = &plan;
    Verdict v = stage.OnRequest(ex, next_);
    if (v == Verdict::kNext) stage.OnAnswer(*ex);
    return std::make_pair(v, std::move(ex));
  };
  auto [v1, a] = take();
  EXPECT_EQ(v1, Verdict::kNext);
  EXPECT_EQ(*FindHeader(a->response, "RateLimit-Limit"), "2");
  EXPECT_EQ(*FindHeader(a->response, "RateLimit-Remaining"), "1");
  EXPECT_EQ(take().first, Verdict::kNext);
  auto [v3, refused] = take();
  EXPECT_EQ(v3, Verdict::kAnswered);
  EXPECT_EQ(refused->response.status, 429);
  EXPECT_EQ(CodeOf(refused->response), "rate_limited");
  EXPECT_EQ(*FindHeader(refused->response, "Retry-After"), "1");
  EXPECT_NE(FindHeader(refused->response, "RateLimit-Policy"), nullptr);
  clock_.Advance(1 * kSec);
  EXPECT_EQ(take().first, Verdict::kNext);
}

TEST_F(PlanStageTest, DailyQuotaRefusesAndDoesNotCountTheRefusal) {
  PlanConfig plan{"free", 0, 0, 2, 0};
  QuotaStage stage(keys_.get(), &metrics_, &clock_);
  for (int i = 0; i < 2; ++i) {
    auto ex = Keyed();
    ex->plan = &plan;
    EXPECT_EQ(stage.OnRequest(ex, next_), Verdict::kNext);
  }
  auto over = Keyed();
  over->plan = &plan;
  over->plan_headers = {{"RateLimit-Limit", "5"}};
  EXPECT_EQ(stage.OnRequest(over, next_), Verdict::kAnswered);
  EXPECT_EQ(over->response.status, 429);
  EXPECT_EQ(CodeOf(over->response), "quota_exceeded");
  EXPECT_EQ(*FindHeader(over->response, "Retry-After"), "86400");  // until midnight UTC
  EXPECT_TRUE(over->plan_headers.empty());
  EXPECT_EQ(*keys_->AddUsage(key_id_, "2025-11-28", 0), 2);
  clock_.Advance(86400 * kSec);  // the next day
  auto tomorrow = Keyed();
  tomorrow->plan = &plan;
  EXPECT_EQ(stage.OnRequest(tomorrow, next_), Verdict::kNext);
}

TEST(QuotaPeriodsTest, DayMonthAndTimeToTheirEnds) {
  std::string day, month;
  int64_t to_day, to_month;
  // 2026-02-28T23:00:00Z
  QuotaPeriods(int64_t{1'772'319'600} * kSec, &day, &month, &to_day, &to_month);
  EXPECT_EQ(day, "2026-02-28");
  EXPECT_EQ(month, "2026-02");
  EXPECT_EQ(to_day, 3600);
  EXPECT_EQ(to_month, 3600);
}

}  // namespace
}  // namespace modelfn::gateway
