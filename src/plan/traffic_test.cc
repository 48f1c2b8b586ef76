#include "plan/traffic.h"

#include <gtest/gtest.h>

#include <cmath>

namespace modelfn {
namespace plan {
namespace {

size_t CountIn(const Traffic& t, double a, double b) {
  size_t n = 0;
  for (double x : t.arrivals_s) n += x >= a && x < b;
  return n;
}

TEST(TrafficTest, SteadyPoissonRateHasTheExpectedCount) {
  auto t = TrafficFromPattern("20rps for 10m");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->duration_s, 600);
  // 12,000 expected; a Poisson count's sigma is ~110.
  EXPECT_NEAR(static_cast<double>(t->arrivals_s.size()), 12000, 500);
  EXPECT_TRUE(std::is_sorted(t->arrivals_s.begin(), t->arrivals_s.end()));
  EXPECT_GE(t->arrivals_s.front(), 0);
  EXPECT_LT(t->arrivals_s.back(), 600);
}

TEST(TrafficTest, TheSameSeedGivesTheSameArrivalsAndAnotherDoesNot) {
  auto a = TrafficFromPattern("5/s for 1m seed 7");
  auto b = TrafficFromPattern("5/s for 1m seed 7");
  auto c = TrafficFromPattern("5/s for 1m seed 8");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->arrivals_s, b->arrivals_s);
  EXPECT_NE(a->arrivals_s, c->arrivals_s);
}

TEST(TrafficTest, UniformArrivalsAreEvenlySpaced) {
  auto t = TrafficFromPattern("10rps uniform for 10s");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->arrivals_s.size(), 100u);
  EXPECT_NEAR(t->arrivals_s[1] - t->arrivals_s[0], 0.1, 1e-9);
}

TEST(TrafficTest, ASpikeMultipliesTheRateForItsDurationEveryPeriod) {
  auto t = TrafficFromPattern("steady 20rps with spike 10x for 2m every 1h uniform");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->duration_s, 3600);  // one period of the longest clause
  EXPECT_NEAR(static_cast<double>(CountIn(*t, 0, 120)), 200 * 120, 2);
  EXPECT_NEAR(static_cast<double>(CountIn(*t, 120, 3600)), 20 * 3480, 2);
}

TEST(TrafficTest, OffTimeHasNoRequestAtTheEndOfEachPeriod) {
  auto t = TrafficFromPattern("1rps off 30s every 1m for 3m");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(CountIn(*t, 30, 60) + CountIn(*t, 90, 120) + CountIn(*t, 150, 180), 0u);
  EXPECT_GT(CountIn(*t, 0, 30), 5u);
}

TEST(TrafficTest, BurstsArriveAtOnce) {
  auto t = TrafficFromPattern("burst 32 every 5m for 15m");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->arrivals_s.size(), 96u);
  EXPECT_EQ(CountIn(*t, 0, 1e-9), 32u);
  EXPECT_EQ(CountIn(*t, 300, 300 + 1e-9), 32u);
}

TEST(TrafficTest, BadPatternsNameTheWord) {
  struct Case {
    const char* pattern;
    const char* says;
  } cases[] = {
      {"", "empty"},
      {"20 rps", "\"20\""},
      {"20rps spike 10 for 2m every 1h", "\"10\" is not a factor"},
      {"20rps spike 10x for 2h every 1h", "less than its period"},
      {"20rps spike 10x during 2m every 1h", "expected \"for\""},
      {"20rps for 2 weeks", "\"2\" is not a duration"},
      {"20rps banana", "\"banana\""},
      {"100000rps for 7d", "at most"},
      {"20rps for 8d", "at most 7 days"},
      {"1rps spike 2x for 1ms every 2ms for 1d", "more than 100,000 times"},
      {"spike 2x for 1m every 1h", "names no rate"},
      {"-5rps", "\"-5rps\""},
      {"nanrps", "\"nanrps\""},
      {"0rps", "no request"},
      {"0.0001rps for 1s", "no request"},
  };
  for (const auto& c : cases) {
    auto t = TrafficFromPattern(c.pattern);
    ASSERT_FALSE(t.ok()) << c.pattern;
    EXPECT_EQ(t.status().reason(), "invalid_traffic") << c.pattern;
    EXPECT_NE(t.status().message().find(c.says), std::string::npos)
        << c.pattern << " -> " << t.status().message();
  }
}

TEST(TrafficTest, AccessLinesGiveArrivalsAsTheirTimeMinusTheirLatency) {
  std::string log =
      "{\"ts\":\"2026-12-04T10:00:00.000Z\",\"level\":\"info\",\"event\":\"listening\"}\n"
      "{\"ts\":\"2026-12-04T10:00:01.500Z\",\"event\":\"access\",\"function\":\"digits\","
      "\"ms\":500}\n"
      "{\"ts\":\"2026-12-04T10:00:03.250Z\",\"event\":\"access\",\"function\":\"digits\","
      "\"ms\":250}\n"
      "{\"ts\":\"2026-12-04T10:00:02.000Z\",\"event\":\"access\",\"function\":\"other\","
      "\"ms\":1}\n";
  auto t = TrafficFromTrace(log, "up.log", "digits");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->arrivals_s.size(), 2u);
  EXPECT_NEAR(t->arrivals_s[0], 0, 1e-6);
  EXPECT_NEAR(t->arrivals_s[1], 2.0, 1e-6);
  EXPECT_EQ(t->function, "digits");

  auto several = TrafficFromTrace(log, "up.log", "");
  ASSERT_FALSE(several.ok());
  EXPECT_NE(several.status().message().find("several functions (digits, other)"),
            std::string::npos);
  auto none = TrafficFromTrace(log, "up.log", "nope");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no request of function \"nope\""), std::string::npos);
}

TEST(TrafficTest, PlainTraceLinesCountFromTheirFirstArrival) {
  auto t = TrafficFromTrace("{\"t\": 100.5}\n\n{\"t\": 100}\n{\"t\": 103}\n", "trace", "");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->arrivals_s, (std::vector<double>{0, 0.5, 3}));
  EXPECT_NEAR(t->duration_s, 4.5, 1e-9);
}

TEST(TrafficTest, ABadTraceLineIsNamed) {
  auto t = TrafficFromTrace("{\"t\": 1}\nnot json\n", "trace.jsonl", "");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("trace.jsonl line 2"), std::string::npos);
  auto u = TrafficFromTrace("{\"t\": \"soon\"}\n", "trace.jsonl", "");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("line 1"), std::string::npos);
  auto v = TrafficFromTrace("{\"event\":\"access\",\"ts\":\"yesterday\",\"ms\":1}\n", "x", "");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("RFC 3339"), std::string::npos);
  auto far = TrafficFromTrace("{\"t\": 1e308}\n{\"t\": -1e308}\n", "far.jsonl", "");
  ASSERT_FALSE(far.ok());
  EXPECT_NE(far.status().message().find("more than 7 days"), std::string::npos);
  auto w = TrafficFromTrace("\n\n", "empty.jsonl", "");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("holds no request"), std::string::npos);
}

}  // namespace
}  // namespace plan
}  // namespace modelfn
