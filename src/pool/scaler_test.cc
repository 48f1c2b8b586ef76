#include "pool/scaler.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

constexpr int64_t kSec = 1'000'000'000;

InstanceView Ready(uint64_t id, int active, int64_t idle_since = 0, bool current = true) {
  InstanceView v;
  v.id = id;
  v.ready = true;
  v.active = active;
  v.idle_since_ns = idle_since;
  v.current = current;
  return v;
}

InstanceView Starting(uint64_t id) {
  InstanceView v;
  v.id = id;
  return v;
}

ScalingParams Params(int min, int max, int conc = 1, int64_t ttl = 60 * kSec) {
  ScalingParams p;
  p.min_instances = min;
  p.max_instances = max;
  p.concurrency = conc;
  p.idle_ttl_ns = ttl;
  return p;
}

TEST(ScalerTest, FromZeroStartsOnePerQueuedRequestUpToMax) {
  EXPECT_EQ(DecideScale(Params(0, 8), {}, 0, 0).start, 0);
  EXPECT_EQ(DecideScale(Params(0, 8), {}, 1, 0).start, 1);
  EXPECT_EQ(DecideScale(Params(0, 8), {}, 5, 0).start, 5);
  EXPECT_EQ(DecideScale(Params(0, 8), {}, 50, 0).start, 8);
  // Starting instances count: no second start for the same demand.
  EXPECT_EQ(DecideScale(Params(0, 8), {Starting(1)}, 1, 0).start, 0);
  EXPECT_EQ(DecideScale(Params(0, 8), {Starting(1), Ready(2, 1)}, 3, 0).start, 2);
}

TEST(ScalerTest, ConcurrencyPacksRequestsPerInstance) {
  EXPECT_EQ(DecideScale(Params(0, 8, 4), {}, 5, 0).start, 2);
  EXPECT_EQ(DecideScale(Params(0, 8, 4), {Ready(1, 4)}, 1, 0).start, 1);
  EXPECT_EQ(DecideScale(Params(0, 8, 4), {Ready(1, 3)}, 1, 0).start, 0);
}

TEST(ScalerTest, MinInstancesArePrewarmedAndKept) {
  EXPECT_EQ(DecideScale(Params(2, 8), {}, 0, 0).start, 2);
  auto d =
      DecideScale(Params(2, 8), {Ready(1, 0, 0), Ready(2, 0, 0), Ready(3, 0, 0)}, 0, 1000 * kSec);
  EXPECT_EQ(d.start, 0);
  ASSERT_EQ(d.stop.size(), 1u);  // three idle, TTL passed: back to min 2
}

TEST(ScalerTest, ScaleInWaitsForTheIdleTtlAndStopsTheOldestIdleFirst) {
  std::vector<InstanceView> v = {Ready(1, 0, 10 * kSec), Ready(2, 0, 5 * kSec), Ready(3, 1)};
  EXPECT_TRUE(DecideScale(Params(0, 8), v, 0, 64 * kSec).stop.empty());
  auto d = DecideScale(Params(0, 8), v, 0, 65 * kSec);
  ASSERT_EQ(d.stop.size(), 1u);
  EXPECT_EQ(d.stop[0], 2u);
  d = DecideScale(Params(0, 8), v, 0, 70 * kSec);
  EXPECT_EQ(d.stop, (std::vector<uint64_t>{2, 1}));
  // Busy and starting instances are never stopped.
  EXPECT_TRUE(
      DecideScale(Params(0, 8), {Ready(1, 1, 0), Starting(2)}, 0, 1000 * kSec).stop.empty());
}

TEST(ScalerTest, QueuedDemandKeepsIdleInstancesAlive) {
  // Two idle past TTL, but two requests queued (e.g. arrived this tick): keep both.
  auto d = DecideScale(Params(0, 8), {Ready(1, 0, 0), Ready(2, 0, 0)}, 2, 1000 * kSec);
  EXPECT_TRUE(d.stop.empty());
}

TEST(ScalerTest, NewGenerationReplacesOldInstancesThenRetiresThem) {
  std::vector<InstanceView> v = {Ready(1, 1, 0, false), Ready(2, 0, 0, false)};
  // No current instance yet: start as many as the old ones; the idle old one drains at once,
  // the busy one finishes first.
  auto d = DecideScale(Params(0, 8), v, 0, kSec);
  EXPECT_EQ(d.start, 2);
  EXPECT_EQ(d.stop, (std::vector<uint64_t>{2}));
  // At max_instances (old ones count) nothing starts until old ones have stopped.
  v = {Ready(1, 1, 0, false), Ready(2, 1, 0, false)};
  d = DecideScale(Params(0, 2), v, 1, 0);
  EXPECT_EQ(d.start, 0);
  EXPECT_TRUE(d.stop.empty());
  v[0].active = 0;
  d = DecideScale(Params(0, 2), v, 1, 0);
  EXPECT_EQ(d.stop, (std::vector<uint64_t>{1}));
  v[0].stopping = true;
  EXPECT_EQ(DecideScale(Params(0, 2), v, 1, 0).start, 1);
}

TEST(ScalerTest, PickSkipsDrainingThenPrefersLeastLoadedThenMostRecentlyUsed) {
  auto p = Params(0, 8, 2);
  EXPECT_EQ(PickInstance(p, {}), std::nullopt);
  EXPECT_EQ(PickInstance(p, {Starting(1)}), std::nullopt);
  EXPECT_EQ(PickInstance(p, {Ready(1, 2)}), std::nullopt);
  EXPECT_EQ(PickInstance(p, {Ready(1, 1), Ready(2, 0)}), 2u);
  EXPECT_EQ(PickInstance(p, {Ready(1, 0, 5), Ready(2, 0, 9)}), 2u);
  EXPECT_EQ(PickInstance(p, {Ready(1, 0, 5, false), Ready(2, 1, 0)}), 2u);
  EXPECT_EQ(PickInstance(p, {Ready(1, 0, 5, false), Ready(2, 2, 0)}), std::nullopt);  // draining
  InstanceView stopping = Ready(3, 0);
  stopping.stopping = true;
  EXPECT_EQ(PickInstance(p, {stopping}), std::nullopt);
}

}  // namespace
}  // namespace modelfn
