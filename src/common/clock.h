// Clock seam: all time the code reads comes through a Clock, so tests can drive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace modelfn {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds since an arbitrary origin; never goes backwards. Thread-safe.
  virtual int64_t MonotonicNanos() const = 0;
  // Wall-clock nanoseconds since the Unix epoch. Thread-safe.
  virtual int64_t WallNanos() const = 0;
};

// The process's real clocks (CLOCK_MONOTONIC, CLOCK_REALTIME). A shared instance lives forever.
class RealClock final : public Clock {
 public:
  static const RealClock& Get();
  int64_t MonotonicNanos() const override;
  int64_t WallNanos() const override;
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_nanos = 1'000'000'000)
      : mono_(start_nanos), wall_(start_nanos) {}
  int64_t MonotonicNanos() const override { return mono_.load(); }
  int64_t WallNanos() const override { return wall_.load(); }
  void Advance(int64_t nanos) {
    mono_ += nanos;
    wall_ += nanos;
  }
  void SetWall(int64_t nanos) { wall_ = nanos; }

 private:
  std::atomic<int64_t> mono_;
  std::atomic<int64_t> wall_;
};

// Formats wall-clock nanoseconds as RFC 3339 UTC with milliseconds ("2026-11-28T15:56:41.123Z").
std::string FormatRfc3339(int64_t wall_nanos);

}  // namespace modelfn
