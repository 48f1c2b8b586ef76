// One thread that watches the deadlines of many operations at once, instead of a thread per
// operation: an operation arms a deadline before it starts and disarms it when it ends; if the
// deadline passes first, the watch calls the operation's `fire` (e.g. ONNX Runtime's
// RunOptions::SetTerminate, which makes a running session stop between kernels).
//
// Deadlines are CLOCK_MONOTONIC nanoseconds (std::chrono::steady_clock, Clock::MonotonicNanos of
// RealClock). The thread starts with the first Arm and lives for the rest of the process. It is
// fork-safe: a child forked while the parent's watch runs (a template process forking an
// instance) starts a thread of its own at its first Arm, with no deadline inherited.
#pragma once

#include <cstdint>
#include <functional>

namespace modelfn {

class DeadlineWatch {
 public:
  // The process's watch. Thread-safe.
  static DeadlineWatch& Get();

  // While alive, `fire` is called once (on the watch's thread, under its lock: it must be quick
  // and must not call back into the watch) if `deadline_mono_ns` passes. Move-only.
  class Armed {
   public:
    Armed() = default;
    Armed(Armed&& other) noexcept;
    Armed& operator=(Armed&& other) noexcept;
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;
    // Disarms (see Disarm).
    ~Armed();
    // Stops watching. Returns true if `fire` was called; once this returns, it will not be. Later
    // calls return the first call's answer.
    bool Disarm();

   private:
    friend class DeadlineWatch;
    explicit Armed(uint64_t id) : id_(id) {}
    uint64_t id_ = 0;  // 0: nothing armed
    bool fired_ = false;
  };

  // Arms a deadline. A deadline already past fires at once (on the watch's thread).
  Armed Arm(int64_t deadline_mono_ns, std::function<void()> fire);

  // Deadlines armed now, over every thread: for tests.
  size_t armed() const;

  struct State;  // internal (deadline_watch.cc)

 private:
  DeadlineWatch() = default;
  bool Disarm(uint64_t id);
};

}  // namespace modelfn
