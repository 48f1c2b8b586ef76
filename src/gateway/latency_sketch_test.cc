#include "gateway/latency_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace modelfn {
namespace {

double Exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[rank == 0 ? 0 : rank - 1];
}

TEST(LatencySketchTest, QuantilesAreWithinOnePercentOfASeenLatency) {
  std::mt19937 rng(7);
  std::lognormal_distribution<double> dist(std::log(0.02), 1.5);  // 20 ms median, long tail
  LatencySketch s;
  std::vector<double> seen;
  for (int i = 0; i < 20000; ++i) {
    double v = dist(rng);
    s.Add(v);
    seen.push_back(v);
  }
  for (double q : {0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    double want = Exact(seen, std::max(q, 1e-9));
    EXPECT_NEAR(s.Quantile(q), want, want * LatencySketch::kRelativeError * 1.01) << q;
  }
}

// What the status once reported: p95/p99 of 9.6 and 9.9 s where the slowest request took 8.26 s.
TEST(LatencySketchTest, NoQuantileIsAboveTheSlowestRequest) {
  LatencySketch s;
  for (int i = 0; i < 95; ++i) s.Add(0.01);
  for (double v : {6.0, 7.1, 7.9, 8.0, 8.26}) s.Add(v);
  EXPECT_LE(s.Quantile(0.99), 8.26);
  EXPECT_LE(s.Quantile(0.95), 8.26);
  EXPECT_NEAR(s.Quantile(0.99), 8.0, 8.0 * 0.0101);
  EXPECT_DOUBLE_EQ(s.Quantile(1.0), 8.26);
  EXPECT_NEAR(s.Quantile(0.5), 0.01, 0.0001);
}

TEST(LatencySketchTest, EmptyTinyHugeAndOdd) {
  LatencySketch s;
  EXPECT_EQ(s.Quantile(0.5), 0);
  s.Add(0);
  s.Add(-1);  // a clock step: counted as 0
  s.Add(std::nan(""));
  EXPECT_EQ(s.count(), 2u);
  EXPECT_EQ(s.Quantile(0.99), 0);
  s.Add(1e9);  // beyond the last bucket: the clamp keeps the max exact
  EXPECT_DOUBLE_EQ(s.Quantile(1.0), 1e9);
  LatencySketch one;
  one.Add(0.123);
  for (double q : {0.0, 0.5, 1.0}) EXPECT_DOUBLE_EQ(one.Quantile(q), 0.123);
}

}  // namespace
}  // namespace modelfn
