#include "common/clock.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

namespace modelfn {
namespace {

// The digits written by hand agree with strftime + the milliseconds, over times spread over what
// int64 nanoseconds hold (1970 to 2262), and the edges of a second, a day and a leap day.
TEST(FormatRfc3339Test, AgreesWithStrftime) {
  auto reference = [](int64_t nanos) {
    time_t secs = static_cast<time_t>(nanos / 1'000'000'000);
    tm t;
    gmtime_r(&secs, &t);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
    char ms[8];
    snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>((nanos / 1'000'000) % 1000));
    return std::string(buf) + ms;
  };
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(951'782'399'999'000'000), "2000-02-28T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(951'782'400'001'000'000), "2000-02-29T00:00:00.001Z");
  EXPECT_EQ(FormatRfc3339(1'796'288'400'123'456'789), "2026-12-03T09:00:00.123Z");
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> any(0, INT64_MAX / 1000);
  for (int i = 0; i < 10'000; ++i) {
    int64_t nanos = any(rng) * 1000;
    ASSERT_EQ(FormatRfc3339(nanos), reference(nanos)) << nanos;
  }
}

}  // namespace
}  // namespace modelfn
