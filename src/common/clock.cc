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
  int year = t.tm_year + 1900;
  if (year < 0 || year > 9999) {  // outside what four digits hold: the general path
    char buf[96];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, t.tm_mon + 1, t.tm_mday,
             t.tm_hour, t.tm_min, t.tm_sec, ms);
    return buf;
  }
  // Digits by hand: this runs for every log line.
  char out[] = "0000-00-00T00:00:00.000Z";
  auto put = [&out](int at, int v, int digits) {
    for (int i = digits - 1; i >= 0; --i, v /= 10) out[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  put(5, t.tm_mon + 1, 2);
  put(8, t.tm_mday, 2);
  put(11, t.tm_hour, 2);
  put(14, t.tm_min, 2);
  put(17, t.tm_sec, 2);
  put(20, ms, 3);
  return std::string(out, sizeof out - 1);
}

}  // namespace modelfn
