#include "plan/simulator.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace plan {
namespace {

Traffic At(std::vector<double> arrivals, double duration) {
  Traffic t;
  t.arrivals_s = std::move(arrivals);
  t.duration_s = duration;
  return t;
}

// Fixed times: every run 10 ms, every cold start 100 ms.
ServiceModel Fixed(double run_ms = 10, double cold_ms = 100, double capacity = 1) {
  ServiceModel s;
  s.run_ms = {run_ms};
  s.cold_ms = {cold_ms};
  s.capacity = capacity;
  return s;
}

SimSetup Lambda(double idle_s = 600) {
  SimSetup s;
  s.rules.scale = ScaleKind::kPerRequest;
  s.rules.idle_timeout_s = idle_s;
  s.rules.billing = BillingRule::kPerRequestDuration;
  s.rules.granularity_ms = 1;
  s.service = Fixed();
  return s;
}

// modelfn up's scheduler (kLocal) with the Fixed() times.
SimSetup Local(int max_instances, int max_concurrent_inits, double idle_s) {
  SimSetup s;
  s.rules.scale = ScaleKind::kLocal;
  s.rules.max_instances = max_instances;
  s.rules.max_concurrent_inits = max_concurrent_inits;
  s.rules.idle_timeout_s = idle_s;
  s.service = Fixed();
  return s;
}

TEST(SimulatorTest, PerRequestReusesAWarmInstanceUntilItsIdleTimeout) {
  auto warm = Simulate(Lambda(600), At({0, 5, 10}, 20));
  ASSERT_TRUE(warm.ok());
  EXPECT_EQ(warm->inits, 1u);
  EXPECT_EQ(warm->cold, 1u);
  EXPECT_NEAR(warm->p99_ms, 110, 1e-6);
  EXPECT_NEAR(warm->p50_ms, 10, 1e-6);
  auto expiring = Simulate(Lambda(4), At({0, 5, 10}, 20));
  ASSERT_TRUE(expiring.ok());
  EXPECT_EQ(expiring->inits, 3u);
  EXPECT_EQ(expiring->cold, 3u);
}

TEST(SimulatorTest, PerRequestStartsAnInstanceForEachRequestThatFindsNoIdleOne) {
  auto r = Simulate(Lambda(), At({0, 0, 0, 0, 1}, 2));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->inits, 4u);
  EXPECT_EQ(r->cold, 4u);
  EXPECT_EQ(r->peak_instances, 4);
  EXPECT_EQ(r->served, 5u);
}

TEST(SimulatorTest, PerRequestThrottlesAtMaxInstancesAndAtTheScaleOutRate) {
  SimSetup s = Lambda();
  s.rules.max_instances = 2;
  auto r = Simulate(s, At({0, 0, 0}, 1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rejected, 1u);
  EXPECT_EQ(r->served, 2u);
  s.rules.max_instances = 100;
  s.rules.max_new_per_10s = 2;
  auto rate = Simulate(s, At({0, 0, 0, 11}, 12));
  ASSERT_TRUE(rate.ok());
  EXPECT_EQ(rate->rejected, 1u);
  EXPECT_EQ(rate->served, 3u);
}

TEST(SimulatorTest, MinInstancesAreWarmFromTheStartAndBilledApart) {
  SimSetup s = Lambda(1);
  s.min_instances = 1;
  auto r = Simulate(s, At({0, 10, 20}, 30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cold, 0u);
  EXPECT_EQ(r->requests_on_min, 3u);
  EXPECT_NEAR(r->billed_on_min_s, 0.030, 1e-9);
  EXPECT_NEAR(r->billed_on_demand_s, 0, 1e-12);
  EXPECT_NEAR(r->min_alive_s, 30, 1e-9);
}

TEST(SimulatorTest, PerRequestBillingRoundsEachRequestAndBillsTheInit) {
  SimSetup s = Lambda();
  s.service = Fixed(1.2, 50.5);
  s.rules.init_billed = true;
  auto r = Simulate(s, At({0, 1}, 2));
  ASSERT_TRUE(r.ok());
  // Two requests of 1.2 ms billed 2 ms each, plus an init of 50.5 ms billed 51 ms.
  EXPECT_NEAR(r->billed_on_demand_s, 0.004 + 0.051, 1e-9);
}

TEST(SimulatorTest, ProcessorSharingSlowsRequestsThatShareAnInstance) {
  SimSetup s;
  s.rules.scale = ScaleKind::kUtilization;
  s.rules.concurrency = 10;
  s.rules.idle_timeout_s = 600;
  s.min_instances = 1;
  s.service = Fixed(10, 100, 1);
  auto r = Simulate(s, At({0, 0}, 1));
  ASSERT_TRUE(r.ok());
  // Capacity 1: two at once take 20 ms each.
  EXPECT_NEAR(r->p50_ms, 20, 1e-6);
  s.service.capacity = 2;
  auto two = Simulate(s, At({0, 0}, 1));
  ASSERT_TRUE(two.ok());
  EXPECT_NEAR(two->p50_ms, 10, 1e-6);
}

TEST(SimulatorTest, UtilizationQueuesABurstOnTheInstancesItStarts) {
  SimSetup s;
  s.rules.scale = ScaleKind::kUtilization;
  s.rules.concurrency = 4;
  s.rules.idle_timeout_s = 600;
  s.rules.billing = BillingRule::kInstanceActiveTime;
  s.rules.granularity_ms = 100;
  s.service = Fixed(10, 100, 4);
  auto r = Simulate(s, At(std::vector<double>(8, 0.0), 1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->inits, 2u);  // 8 waiting at concurrency 4
  EXPECT_EQ(r->cold, 8u);
  EXPECT_NEAR(r->p99_ms, 110, 1e-6);
  // Each instance busy 10 ms, billed 100 ms.
  EXPECT_NEAR(r->billed_on_demand_s, 0.2, 1e-9);
}

TEST(SimulatorTest, UtilizationScalesOutOnAveragedLoad) {
  SimSetup s;
  s.rules.scale = ScaleKind::kUtilization;
  s.rules.concurrency = 80;
  s.rules.target_concurrency_utilization = 0.6;
  s.rules.target_cpu_utilization = 0.6;
  s.rules.scale_interval_s = 2;
  s.rules.scale_window_s = 10;
  s.rules.idle_timeout_s = 900;
  s.service = Fixed(10, 100, 1);  // one CPU: 100 rps at most per instance
  std::vector<double> a;
  for (int i = 0; i < 30 * 150; ++i) a.push_back(i / 150.0);  // 150 rps for 30 s
  auto r = Simulate(s, At(a, 30));
  ASSERT_TRUE(r.ok());
  // CPU drives: 1.5 CPUs of work at 60% target wants 3 instances.
  EXPECT_GE(r->peak_instances, 3);
  EXPECT_LE(r->peak_instances, 4);
  EXPECT_EQ(r->rejected, 0u);
}

TEST(SimulatorTest, FlexStyleMinimumBilledPeriod) {
  SimSetup s;
  s.rules.scale = ScaleKind::kUtilization;
  s.rules.concurrency = 16;
  s.rules.billing = BillingRule::kInstanceExecutionTime;
  s.rules.granularity_ms = 100;
  s.rules.minimum_ms = 1000;
  s.rules.idle_timeout_s = 600;
  s.min_instances = 1;
  s.service = Fixed(10, 100, 1);
  auto r = Simulate(s, At({0, 5}, 10));
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->billed_on_min_s, 2.0, 1e-9);  // two busy periods of 10 ms, 1 s each at least
}

TEST(SimulatorTest, LocalFollowsThePlatformSchedulerIncludingItsInitLimit) {
  SimSetup s = Local(2, 1, 60);
  auto r = Simulate(s, At({0, 0, 0, 0}, 1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->served, 4u);
  EXPECT_EQ(r->inits, 2u);
  // One init at a time: the first instance is ready at 100 ms and serves the queue one by one
  // (110, 120, 130, 140 ms); the second starts then and is ready at 200 ms, too late to help.
  EXPECT_NEAR(r->p50_ms, 120, 1e-6);
  EXPECT_NEAR(r->p99_ms, 140, 1e-6);
  EXPECT_EQ(r->cold, 4u);
  EXPECT_EQ(r->peak_instances, 2);
}

TEST(SimulatorTest, LocalMinInstancesAreWarmWhenTheTrafficBegins) {
  // The platform starts its min instances with itself, before any request: a burst at the
  // window's start meets a warm instance, and only what waits for a second one is cold.
  SimSetup s = Local(2, 1, 60);
  s.min_instances = 1;
  auto r = Simulate(s, At({0, 0, 0, 0}, 1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->served, 4u);
  // The warm one serves at 0-10, 10-20, 20-30, 30-40 ms; the second, ready at 100, gets none.
  EXPECT_EQ(r->cold, 0u);
  EXPECT_NEAR(r->p99_ms, 40, 1e-6);
  EXPECT_EQ(r->inits, 2u);
  EXPECT_EQ(r->requests_on_min, 4u);
}

TEST(SimulatorTest, LocalScalesToZeroAfterTheIdleTtl) {
  SimSetup s = Local(4, 2, 2);
  auto r = Simulate(s, At({0, 1, 5}, 10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->inits, 2u);  // the third arrives after the TTL
  EXPECT_EQ(r->cold, 2u);
  EXPECT_EQ(r->timeline.back(), 0);
}

TEST(SimulatorTest, TheSameSeedGivesTheSameResult) {
  SimSetup s = Lambda(1);
  s.service.run_ms = {5, 10, 20, 40};
  s.service.cold_ms = {100, 200};
  auto t = TrafficFromPattern("5rps for 2m");
  ASSERT_TRUE(t.ok());
  auto a = Simulate(s, *t);
  auto b = Simulate(s, *t);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->p99_ms, b->p99_ms);
  EXPECT_EQ(a->cold, b->cold);
  EXPECT_EQ(a->billed_on_demand_s, b->billed_on_demand_s);
}

TEST(SimulatorTest, RefusesASetupThatCannotRun) {
  SimSetup s = Lambda();
  s.service.run_ms.clear();
  EXPECT_FALSE(Simulate(s, At({0}, 1)).ok());
  s = Lambda();
  s.min_instances = 5;
  s.rules.max_instances = 2;
  EXPECT_FALSE(Simulate(s, At({0}, 1)).ok());
}

}  // namespace
}  // namespace plan
}  // namespace modelfn
