#include "plan/planner.h"

#include <gtest/gtest.h>

#include "plan/report.h"

namespace modelfn {
namespace plan {
namespace {

Profile TwoShares() {
  Profile p;
  p.model = "mlp";
  p.version = "1";
  ProfilePoint a;
  a.cpus = 0.5;
  a.cold_start_ms = {200};
  a.run = {{1, {20}}};
  a.max_rps = 50;
  ProfilePoint b = a;
  b.cpus = 1;
  b.cold_start_ms = {100};
  b.run = {{1, {10}}};
  b.max_rps = 100;
  p.points = {a, b};
  return p;
}

CloudTarget LambdaLike() {
  CloudTarget t;
  t.id = "fake-lambda";
  t.title = "Fake Lambda";
  t.sizes = {{512, 0.5, 0}, {1024, 1, 0}};
  t.rules.scale = ScaleKind::kPerRequest;
  t.rules.idle_timeout_s = 1;  // short: cold starts are frequent at 2 rps
  t.rules.billing = BillingRule::kPerRequestDuration;
  t.rules.granularity_ms = 1;
  return t;
}

PriceBook Prices() {
  PriceBook b;
  b.version = "test";
  b.currency = "USD";
  b.origin = "test";
  TargetPrices p;
  p.per_request = 2e-7;
  p.min_per_request = 2e-7;
  p.active.gb_second = 1.6e-5;
  p.min_idle.gb_second = 4e-6;
  p.min_active.gb_second = 1e-5;
  b.targets["fake-lambda"] = p;
  return b;
}

TEST(PlannerTest, PriceOfMultipliesBilledTimeBySizeAndExtrapolatesToAMonth) {
  SimResult sim;
  sim.requests = sim.served = 1000;
  sim.billed_on_demand_s = 100;  // in a window of one hour
  TargetPrices p = Prices().targets["fake-lambda"];
  Cost c = PriceOf(sim, 3600, Size{2048, 1, 0}, p, false);
  // 730 windows: 73,000 s x 2 GB x 1.6e-5 + 730,000 requests x 2e-7.
  EXPECT_NEAR(c.on_demand, 73000 * 2 * 1.6e-5, 1e-9);
  EXPECT_NEAR(c.requests, 730000 * 2e-7, 1e-9);
  EXPECT_NEAR(c.monthly, c.on_demand + c.requests, 1e-12);
  EXPECT_NEAR(c.per_million, c.monthly / 0.73, 1e-9);
  p.free_seconds.gb_second = 100000;
  p.free_requests = 1e6;
  Cost free = PriceOf(sim, 3600, Size{2048, 1, 0}, p, true);
  EXPECT_NEAR(free.on_demand, (146000 - 100000) * 1.6e-5, 1e-9);
  EXPECT_NEAR(free.requests, 0, 1e-12);
}

TEST(PlannerTest, MinInstancesBillTheirWholeTimeOrOnlyTheirIdleTime) {
  SimResult sim;
  sim.requests = sim.served = sim.requests_on_min = 10;
  sim.min_alive_s = 3600;
  sim.billed_on_min_s = 600;
  TargetPrices p = Prices().targets["fake-lambda"];
  Cost whole = PriceOf(sim, 3600, Size{1024, 1, 0}, p, false);
  EXPECT_NEAR(whole.min_instances, 730 * (3600 * 4e-6 + 600 * 1e-5), 1e-9);
  p.min_idle_whole_time = false;
  Cost idle = PriceOf(sim, 3600, Size{1024, 1, 0}, p, false);
  EXPECT_NEAR(idle.min_instances, 730 * (3000 * 4e-6 + 600 * 1e-5), 1e-9);
}

TEST(PlannerTest, RecommendsTheCheapestConfigurationThatMeetsTheTargets) {
  std::map<std::string, CloudTarget> clouds{{"fake-lambda", LambdaLike()}};
  auto traffic = TrafficFromPattern("2rps for 10m");
  ASSERT_TRUE(traffic.ok());
  PlanOptions o;
  o.max_min_instances = 2;
  auto loose = MakePlan(TwoShares(), *traffic, clouds, Prices(), o);
  ASSERT_TRUE(loose.ok()) << loose.status().ToString();
  ASSERT_EQ(loose->targets.size(), 1u);
  const TargetPlan& tp = loose->targets[0];
  ASSERT_EQ(tp.by_size.size(), 2u);
  ASSERT_GE(tp.recommended, 0);
  // Same GB-seconds at both sizes (half the memory, twice the time): the recommendation meets
  // no target but costs least, with no min instance.
  EXPECT_EQ(tp.min_sweep[tp.recommended].min_instances, 0);
  EXPECT_EQ(loose->best_target, 0);

  // A p99 under the cold start at any size needs a min instance.
  o.p99_ms = 50;
  auto strict = MakePlan(TwoShares(), *traffic, clouds, Prices(), o);
  ASSERT_TRUE(strict.ok());
  const TargetPlan& sp = strict->targets[0];
  ASSERT_GE(sp.recommended, 0);
  const Candidate& rec = sp.min_sweep[sp.recommended];
  EXPECT_GE(rec.min_instances, 1);
  EXPECT_LE(rec.sim.p99_ms, 50);
  EXPECT_TRUE(rec.meets);
  for (const Candidate& c : sp.by_size) EXPECT_FALSE(c.meets) << c.misses;

  // An impossible target: nothing is recommended.
  o.p99_ms = 1;
  auto none = MakePlan(TwoShares(), *traffic, clouds, Prices(), o);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->targets[0].recommended, -1);
  EXPECT_EQ(none->best_target, -1);
}

TEST(PlannerTest, NamesAnUnknownTargetAndAMissingPrice) {
  std::map<std::string, CloudTarget> clouds{{"fake-lambda", LambdaLike()}};
  auto traffic = TrafficFromPattern("1rps for 1m");
  ASSERT_TRUE(traffic.ok());
  PlanOptions o;
  o.targets = {"gcp-nope"};
  auto unknown = MakePlan(TwoShares(), *traffic, clouds, Prices(), o);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().reason(), "unknown_target");
  EXPECT_NE(unknown.status().message().find("fake-lambda"), std::string::npos);
  PriceBook empty = Prices();
  empty.targets.clear();
  empty.targets["other"] = TargetPrices();
  auto missing = MakePlan(TwoShares(), *traffic, clouds, empty, PlanOptions());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().reason(), "price_missing");
  EXPECT_NE(missing.status().message().find("fake-lambda"), std::string::npos);
}

TEST(PlannerTest, ThePlanIsTheSameOnOneThreadAndOnSeveral) {
  auto clouds = ParseClouds(BuiltInClouds());
  auto prices = ParsePrices(BuiltInPrices(), "built in");
  ASSERT_TRUE(clouds.ok() && prices.ok());
  (*clouds)["fake-lambda"] = LambdaLike();
  prices->targets["fake-lambda"] = Prices().targets["fake-lambda"];
  auto traffic = TrafficFromPattern("3rps spike 5x for 1m every 5m for 10m");
  ASSERT_TRUE(traffic.ok());
  PlanOptions o;
  o.p99_ms = 150;
  o.max_cold_share = 0.01;
  o.max_min_instances = 3;
  auto one = MakePlan(TwoShares(), *traffic, *clouds, *prices, o);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->targets.size(), clouds->size());
  for (int threads : {2, 5}) {
    o.threads = threads;
    auto many = MakePlan(TwoShares(), *traffic, *clouds, *prices, o);
    ASSERT_TRUE(many.ok());
    EXPECT_EQ(PlanToJson(*many), PlanToJson(*one)) << threads << " threads";
  }
  // An error is the one a sequential run meets first, whatever the threads.
  Profile empty = TwoShares();
  empty.points.clear();
  auto a = MakePlan(empty, *traffic, *clouds, *prices, o);
  o.threads = 1;
  auto b = MakePlan(empty, *traffic, *clouds, *prices, o);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().ToString(), b.status().ToString());
}

}  // namespace
}  // namespace plan
}  // namespace modelfn
