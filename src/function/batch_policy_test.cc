#include "function/batch_policy.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

TEST(BatchingOptionsTest, ParsesEverySetting) {
  auto o = ParseBatchingOptions("max_batch=16,max_delay_ms=3,p99_ms=50,runners=2");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->max_batch, 16);
  EXPECT_EQ(o->max_delay_ms, 3);
  EXPECT_EQ(o->p99_ms, 50);
  EXPECT_EQ(o->runners, 2);
  EXPECT_EQ(BatchingOptionsString(*o), "max_batch=16,max_delay_ms=3,p99_ms=50,runners=2");
}

TEST(BatchingOptionsTest, OnOffAndDefaults) {
  EXPECT_FALSE(ParseBatchingOptions("")->enabled());
  EXPECT_FALSE(ParseBatchingOptions("off")->enabled());
  auto on = ParseBatchingOptions("on");
  ASSERT_TRUE(on.ok());
  EXPECT_EQ(on->max_batch, 32);
  EXPECT_EQ(on->max_delay_ms, -1);
  EXPECT_EQ(on->p99_ms, 0);
  auto partial = ParseBatchingOptions("p99_ms=20");
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->max_batch, 32);
  EXPECT_EQ(partial->max_delay_ms, -1);
  EXPECT_EQ(BatchingOptionsString(*partial), "max_batch=32,max_delay_ms=auto,p99_ms=20");
}

TEST(BatchingOptionsTest, RefusesWhatItDoesNotKnow) {
  for (const char* bad : {"max_batch=0", "max_batch=x", "max_batch=", "max_delay_ms=-1", "p99_ms=0",
                          "runners=0", "speed=fast", "max_batch=8,", "yes", "max_batch=99999"}) {
    auto o = ParseBatchingOptions(bad);
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(RunTimeModelTest, InterpolatesBetweenMeasuredSizes) {
  RunTimeModel m(32);
  EXPECT_EQ(m.Estimate(1), 0);  // nothing known
  m.Observe(1, 1.0);
  m.Observe(8, 2.0);
  m.Observe(32, 5.0);
  EXPECT_DOUBLE_EQ(m.Estimate(1), 1.0);
  EXPECT_DOUBLE_EQ(m.Estimate(8), 2.0);
  EXPECT_NEAR(m.Estimate(4), 1.0 + (4.0 - 1) / 7 * 1.0, 1e-9);  // between 1 and 8
  EXPECT_NEAR(m.Estimate(20), 2.0 + (20.0 - 8) / 24 * 3.0, 1e-9);
  EXPECT_DOUBLE_EQ(m.Estimate(64), 5.0);  // clamped to max_batch
  EXPECT_EQ(m.ToString(), "1:1.000,8:2.000,32:5.000");
}

TEST(RunTimeModelTest, ExtrapolatesLinearlyAndAverages) {
  RunTimeModel m(16);
  m.Observe(2, 1.0);
  EXPECT_DOUBLE_EQ(m.Estimate(1), 0.5);  // below the first measured size
  EXPECT_DOUBLE_EQ(m.Estimate(8), 4.0);  // past the last
  m.Observe(3, 3.0);                     // 3 rows in the bucket of 2: counted as 2 rows in 2 ms
  EXPECT_DOUBLE_EQ(m.Estimate(2), 0.8 * 1.0 + 0.2 * 2.0);
}

// A model whose Run costs 1 ms plus 0.01 ms per row: batching pays.
void Sublinear(int max, RunTimeModel* m) {
  for (int r = 1; r <= max; r *= 2) m->Observe(r, 1.0 + 0.01 * r);
}

TEST(BatchWaitTest, AFullBatchOrAnEmptyQueueNeverWaits) {
  BatchingOptions o;
  o.max_batch = 8;
  o.max_delay_ms = 100;
  RunTimeModel m(8);
  Sublinear(8, &m);
  EXPECT_EQ(BatchWaitMs(o, m, {8, 0, 10}), 0);
  EXPECT_EQ(BatchWaitMs(o, m, {0, 0, 10}), 0);
}

TEST(BatchWaitTest, AFixedDelayWaitsWhatIsLeftOfIt) {
  BatchingOptions o;
  o.max_batch = 8;
  o.max_delay_ms = 5;
  RunTimeModel m(8);
  Sublinear(8, &m);
  EXPECT_DOUBLE_EQ(BatchWaitMs(o, m, {1, 2, 0}), 3);
  EXPECT_EQ(BatchWaitMs(o, m, {1, 7, 0}), 0);
  // The latency target wins over the delay: 10 - 2 waited - 1.08 for a full batch's Run.
  o.max_delay_ms = 60;
  o.p99_ms = 10;
  EXPECT_NEAR(BatchWaitMs(o, m, {1, 2, 0}), 10 - 2 - 1.08, 1e-9);
}

TEST(BatchWaitTest, AutoWaitsOnlyWhenArrivalsPayForIt) {
  BatchingOptions o;
  o.max_batch = 32;
  o.max_delay_ms = -1;
  RunTimeModel m(32);
  Sublinear(32, &m);
  // Nobody else is coming, or nothing is known of the arrivals: run now.
  EXPECT_EQ(BatchWaitMs(o, m, {1, 0, 0}), 0);
  // A row every 0.1 ms and a Run of about 1 ms: waiting for more pays.
  double wait = BatchWaitMs(o, m, {1, 0, 10});
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, m.Estimate(1));  // no target: never longer than running now takes
  // A row every 10 ms: it would not come within a Run's time.
  EXPECT_EQ(BatchWaitMs(o, m, {1, 0, 0.1}), 0);
  // Already waited as long as a Run takes: run.
  EXPECT_EQ(BatchWaitMs(o, m, {1, 1.5, 10}), 0);
}

TEST(BatchWaitTest, AutoNeverWaitsWhenRowsCostTheSameTogether) {
  BatchingOptions o;
  o.max_batch = 32;
  RunTimeModel linear(32);
  for (int r = 1; r <= 32; r *= 2) linear.Observe(r, 0.5 * r);
  EXPECT_EQ(BatchWaitMs(o, linear, {1, 0, 100}), 0);
  EXPECT_EQ(BatchWaitMs(o, linear, {4, 0, 100}), 0);
}

TEST(BatchWaitTest, AutoKeepsTheLatencyTarget) {
  BatchingOptions o;
  o.max_batch = 32;
  o.p99_ms = 20;
  RunTimeModel m(32);
  Sublinear(32, &m);
  double wait = BatchWaitMs(o, m, {1, 0, 10});
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 20 - m.Estimate(32));
  // A row every 2 ms: waiting for the next costs more than a Run saves, target or not.
  EXPECT_EQ(BatchWaitMs(o, m, {1, 0, 0.5}), 0);
  // The oldest has nearly used the target up.
  EXPECT_EQ(BatchWaitMs(o, m, {1, 19, 10}), 0);
}

}  // namespace
}  // namespace modelfn
