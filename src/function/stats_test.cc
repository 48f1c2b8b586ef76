#include "function/stats.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

TEST(LatencyHistogramTest, BucketsAreMonotonicAndTight) {
  int last = -1;
  for (int64_t v = 0; v < 5'000'000; v += v / 50 + 1) {
    int b = LatencyHistogram::BucketOf(v);
    EXPECT_GE(b, last);
    last = b;
    double mid = LatencyHistogram::BucketMidMicros(b);
    if (v >= 16) {
      EXPECT_LT(std::abs(mid - static_cast<double>(v)) / static_cast<double>(v), 0.07) << v;
    }
  }
}

TEST(LatencyHistogramTest, QuantilesOfAKnownDistribution) {
  LatencyHistogram h;
  EXPECT_EQ(h.QuantileMicros(0.5), 0);
  for (int i = 1; i <= 1000; ++i) h.Record(i * 10);  // 10us .. 10ms uniform
  EXPECT_NEAR(h.QuantileMicros(0.5), 5000, 5000 * 0.05);
  EXPECT_NEAR(h.QuantileMicros(0.95), 9500, 9500 * 0.05);
  EXPECT_NEAR(h.QuantileMicros(0.99), 9900, 9900 * 0.05);
  EXPECT_EQ(h.count(), 1000u);
}

TEST(RouteStatsTest, PrometheusText) {
  RouteStats s({"/v1/infer", "/v1/health"});
  s.Record(0, 200, 100);
  s.Record(0, 200, 300);
  s.Record(0, 400, 50);
  std::string out;
  s.AppendPrometheus(&out);
  EXPECT_NE(out.find("modelfn_requests_total{route=\"/v1/infer\",code=\"200\"} 2\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("modelfn_requests_total{route=\"/v1/infer\",code=\"400\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("modelfn_request_duration_seconds_count{route=\"/v1/infer\"} 3\n"),
            std::string::npos);
  EXPECT_NE(out.find("quantile=\"0.99\""), std::string::npos);
  EXPECT_EQ(out.find("/v1/health"), std::string::npos);  // no samples, no series
  EXPECT_EQ(s.Count(0, 200), 2u);
  EXPECT_EQ(s.Total(), 3u);
}

}  // namespace
}  // namespace modelfn
