#include "common/clock.h"

#include <ctime>

namespace modelfn {

const RealClock& RealClock::Get() {
  static const RealClock clock;
  return clock;
}

static int64_t Read(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t RealClock::MonotonicNanos() const { return Read(CLOCK_MONOTONIC); }
int64_t RealClock::WallNanos() const { return Read(CLOCK_REALTIME); }

std::string FormatRfc3339(int64_t wall_nanos) {
  time_t secs = static_cast<time_t>(wall_nanos / 1'000'000'000);
  int ms = static_cast<int>((wall_nanos / 1'000'000) % 1000);
  tm t;
  gmtime_r(&secs, &t);
  char buf[96];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1,
           t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ms);
  return buf;
}

}  // namespace modelfn
