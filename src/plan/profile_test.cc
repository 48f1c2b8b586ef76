#include "plan/profile.h"

#include <gtest/gtest.h>

#include <cmath>

namespace modelfn {
namespace plan {
namespace {

ProfilePoint Point(double cpus, double run_ms, double cold_ms, double max_rps) {
  ProfilePoint p;
  p.cpus = cpus;
  p.cold_start_ms = {cold_ms * 0.9, cold_ms, cold_ms * 1.1};
  p.run = {{1, {run_ms * 0.95, run_ms, run_ms * 1.05}}, {8, {run_ms * 3}}};
  p.max_rps = max_rps;
  p.rss_mb = 100;
  p.runtime_init_ms = 1.5;
  return p;
}

Profile Sample() {
  Profile p;
  p.model = "mlp";
  p.version = "1.0.0";
  p.manifest_sha256 = std::string(64, 'a');
  p.points = {Point(0.25, 40, 400, 25), Point(1, 10, 100, 100), Point(2, 6, 60, 300)};
  return p;
}

TEST(ProfileTest, RoundTripsThroughJson) {
  Profile p = Sample();
  auto back = Profile::Parse(p.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->points.size(), 3u);
  EXPECT_EQ(back->model, "mlp");
  EXPECT_EQ(back->manifest_sha256, p.manifest_sha256);
  EXPECT_EQ(back->points[1].run[1].size, 8);
  EXPECT_NEAR(back->points[1].run[0].ms[1], 10, 1e-9);
  EXPECT_NEAR(back->points[2].max_rps, 300, 1e-9);
  EXPECT_NEAR(back->points[0].runtime_init_ms, 1.5, 1e-9);
}

TEST(ProfileTest, ParseErrorsNameTheField) {
  std::string good = Sample().ToJson();
  struct Case {
    std::string from, to, says;
  } cases[] = {
      {"\"modelfn-plan-profile\"", "\"other\"", "\"kind\""},
      {"\"schema_version\":1", "\"schema_version\":2", "schema_version 2"},
      {"\"manifest_sha256\"", "\"manifest\"", "\"manifest_sha256\" is missing"},
      {"\"cpus\":1,", "\"cpus\":0.1,", "points[1].\"cpus\" is not above"},
      {"\"batch\":1,", "\"batch\":2,", "does not start at batch 1"},
      {"\"max_rps\":25", "\"max_rps\":\"many\"", "points[0].\"max_rps\""},
  };
  for (const auto& c : cases) {
    std::string bad = good;
    size_t at = bad.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    bad.replace(at, c.from.size(), c.to);
    auto p = Profile::Parse(bad);
    ASSERT_FALSE(p.ok()) << c.to;
    EXPECT_EQ(p.status().reason(), "invalid_profile");
    EXPECT_NE(p.status().message().find(c.says), std::string::npos) << p.status().message();
  }
  EXPECT_FALSE(Profile::Parse("[]").ok());
  EXPECT_FALSE(Profile::Parse("{").ok());
}

TEST(ProfileTest, AMeasuredShareIsReadAsMeasured) {
  auto s = ServiceAt(Sample(), 1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->basis, "measured");
  EXPECT_NEAR(Percentile(s->run_ms, 50), 10, 1e-9);
  EXPECT_NEAR(s->capacity, 1.0, 1e-9);  // 100 rps x 10 ms
  auto two = ServiceAt(Sample(), 2);
  ASSERT_TRUE(two.ok());
  EXPECT_NEAR(two->capacity, 1.8, 1e-9);  // 300 rps x 6 ms
}

TEST(ProfileTest, BetweenSharesTimesFollowALogLogLine) {
  auto s = ServiceAt(Sample(), 0.5);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->basis, "interpolated");
  // 40 ms at 0.25 and 10 ms at 1: 20 ms at 0.5 (time ~ 1/cpus).
  EXPECT_NEAR(Percentile(s->run_ms, 50), 20, 1e-6);
  EXPECT_NEAR(Percentile(s->cold_ms, 50), 200, 1e-6);
}

TEST(ProfileTest, BelowTheLowestShareTimesGrowAndAboveTheHighestTheyStay) {
  auto low = ServiceAt(Sample(), 0.125);
  ASSERT_TRUE(low.ok());
  EXPECT_EQ(low->basis, "extrapolated");
  EXPECT_NEAR(Percentile(low->run_ms, 50), 80, 1e-6);
  auto high = ServiceAt(Sample(), 6);
  ASSERT_TRUE(high.ok());
  EXPECT_EQ(high->basis, "extrapolated");
  EXPECT_NEAR(Percentile(high->run_ms, 50), 6, 1e-6);
  EXPECT_FALSE(ServiceAt(Profile(), 1).ok());
}

TEST(ProfileTest, AColdRequestIsChargedTheInitToReadyWhereItWasMeasured) {
  Profile p = Sample();
  EXPECT_NEAR(Percentile(ServiceAt(p, 1)->cold_ms, 50), 100, 1e-9);  // older profiles
  p.points[1].ready_ms = {60, 61, 62};
  auto back = Profile::Parse(p.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->points[1].ready_ms.size(), 3u);
  EXPECT_NEAR(Percentile(ServiceAt(*back, 1)->cold_ms, 50), 61, 1e-9);
}

TEST(ProfileTest, PercentileInterpolatesBetweenOrderStatistics) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_NEAR(Percentile({4, 1, 3, 2}, 50), 2.5, 1e-12);
  EXPECT_NEAR(Percentile({1, 2, 3, 4, 5}, 100), 5, 1e-12);
  EXPECT_NEAR(Percentile({1, 2, 3, 4, 5}, 0), 1, 1e-12);
}

}  // namespace
}  // namespace plan
}  // namespace modelfn
