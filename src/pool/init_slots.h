// A host-wide budget of instance inits running at once, shared by every pool of a platform: cold
// starts compete for the same cores whichever function they belong to. Pools take a slot when
// they start an instance and give it back when it is ready or gone; a pool that finds none free
// waits for its next tick.
#pragma once

#include <mutex>

namespace modelfn {

class InitSlots {
 public:
  explicit InitSlots(int capacity) : capacity_(capacity < 1 ? 1 : capacity) {}
  InitSlots(const InitSlots&) = delete;
  InitSlots& operator=(const InitSlots&) = delete;

  // The budget of this process: as many inits as CPUs it may use (common/cpu_quota.h). Lives
  // forever.
  static InitSlots& Host();

  // Slots free now. Another pool may take them before the caller does: Take() may go over the
  // capacity by what such races take, and the budget recovers as inits finish. Thread-safe.
  int Free() const {
    std::lock_guard<std::mutex> lock(mu_);
    return capacity_ > used_ ? capacity_ - used_ : 0;
  }
  void Take() {
    std::lock_guard<std::mutex> lock(mu_);
    ++used_;
  }
  void Give() {
    std::lock_guard<std::mutex> lock(mu_);
    if (used_ > 0) --used_;
  }
  int capacity() const { return capacity_; }

 private:
  const int capacity_;
  mutable std::mutex mu_;
  int used_ = 0;  // guarded by mu_
};

}  // namespace modelfn
