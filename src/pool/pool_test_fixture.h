// The pool's test fixture: an InstancePool over in-memory instances (fake_launcher.h) and a fake
// clock, and the replies it delivered. Shared by the pool's test files.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "pool/fake_launcher.h"
#include "pool/pool.h"

namespace modelfn {
namespace pool_testing {

inline constexpr int64_t kMs = 1'000'000;
inline constexpr int64_t kSec = 1'000'000'000;

// Replies the pool delivered, by submission order.
class Replies {
 public:
  ReplyFn Catch(int n) {
    return [this, n](ForwardReply r) {
      std::lock_guard<std::mutex> lock(mu_);
      ++count_[n];
      got_[n] = std::move(r);
    };
  }
  bool Has(int n) const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_.count(n) > 0;
  }
  ForwardReply Get(int n) const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_.at(n);
  }
  std::string Code(int n) const { return Has(n) ? Get(n).code : "(none)"; }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_.size();
  }
  int MaxCount() const {
    std::lock_guard<std::mutex> lock(mu_);
    int m = 0;
    for (const auto& [n, c] : count_) m = std::max(m, c);
    return m;
  }

 private:
  mutable std::mutex mu_;
  std::map<int, ForwardReply> got_;
  std::map<int, int> count_;
};

class PoolTest : public ::testing::Test {
 protected:
  void Make(FunctionConfig fn, int inits = 8) {
    fn.name = "digits";
    fn.model = "digits";
    env_.clock = &clock_;
    env_.launcher = &launcher_;
    env_.max_concurrent_inits = inits;
    if (env_.init_slots == nullptr) {
      slots_ = std::make_unique<InitSlots>(64);
      env_.init_slots = slots_.get();
    }
    env_.init_timeout_ms = 10'000;
    env_.stop_grace_ms = 2'000;
    pool_ = std::make_unique<InstancePool>(fn, "1", env_);
    pool_->Start();
  }
  static FunctionConfig Fn(int min, int max) {
    FunctionConfig fn;
    fn.min_instances = min;
    fn.max_instances = max;
    fn.idle_ttl_s = 60;
    fn.timeout_s = 30;
    fn.max_queue = 4;
    fn.queue_timeout_s = 10;
    return fn;
  }
  void Submit(int n, const std::string& method = "POST") {
    ForwardRequest r;
    r.method = method;
    r.path = "/v1/infer";
    r.body = std::to_string(n);
    pool_->Submit(std::move(r), replies_.Catch(n));
  }
  void Advance(int64_t ns) {
    clock_.Advance(ns);
    pool_->Tick();
  }
  // The pool's id of the request whose body is `n`, on instance `i`; 0 when it holds none.
  uint64_t HeldId(size_t i, int n) {
    auto in = launcher_.at(i);
    for (uint64_t id : in->held()) {
      if (in->request(id)->body == std::to_string(n)) return id;
    }
    return 0;
  }
  PoolCounters Counters() { return pool_->Snapshot().counters; }

  FakeClock clock_;
  FakeLauncher launcher_;
  std::unique_ptr<InitSlots> slots_;
  PoolEnv env_;
  Replies replies_;
  std::unique_ptr<InstancePool> pool_;
};

}  // namespace pool_testing
}  // namespace modelfn
