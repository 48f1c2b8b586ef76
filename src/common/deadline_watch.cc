#include "common/deadline_watch.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

namespace modelfn {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t MonotonicNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct DeadlineWatch::State {
  std::mutex mu;
  std::condition_variable cv;
  // guarded by mu:
  bool running = false;  // the thread was started (in this process)
  uint64_t next_id = 1;
  int64_t wake_at = kNever;  // when the thread wakes by itself; an earlier deadline notifies it
  std::map<std::pair<int64_t, uint64_t>, std::function<void()>> by_deadline;
  std::unordered_map<uint64_t, int64_t> deadline_of;

  void Loop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      int64_t now = MonotonicNow();
      while (!by_deadline.empty() && by_deadline.begin()->first.first <= now) {
        auto it = by_deadline.begin();
        deadline_of.erase(it->first.second);
        std::function<void()> fire = std::move(it->second);
        by_deadline.erase(it);
        fire();
      }
      wake_at = by_deadline.empty() ? kNever : by_deadline.begin()->first.first;
      if (wake_at == kNever) {
        cv.wait(lock);
      } else {
        cv.wait_until(lock,
                      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(wake_at)));
      }
    }
  }
};

namespace {

// The current process's state. A forked child gets a fresh one (the parent's thread does not
// exist there); the parent's copy stays reachable so leak checkers of the child do not count it.
std::atomic<DeadlineWatch::State*> g_state{nullptr};
DeadlineWatch::State* g_inherited = nullptr;

}  // namespace

DeadlineWatch& DeadlineWatch::Get() {
  static DeadlineWatch* watch = [] {
    g_state.store(new State());
    // Around fork: hold the lock so the child never inherits it held, then give the child a
    // state of its own.
    pthread_atfork([] { g_state.load()->mu.lock(); }, [] { g_state.load()->mu.unlock(); },
                   [] {
                     State* old = g_state.load();
                     old->mu.unlock();
                     g_inherited = old;
                     g_state.store(new State());
                   });
    return new DeadlineWatch();
  }();
  return *watch;
}

DeadlineWatch::Armed DeadlineWatch::Arm(int64_t deadline_mono_ns, std::function<void()> fire) {
  State* s = g_state.load();
  std::lock_guard<std::mutex> lock(s->mu);
  if (!s->running) {
    s->running = true;
    std::thread([s] { s->Loop(); }).detach();
  }
  uint64_t id = s->next_id++;
  s->by_deadline.emplace(std::make_pair(deadline_mono_ns, id), std::move(fire));
  s->deadline_of.emplace(id, deadline_mono_ns);
  if (deadline_mono_ns < s->wake_at) {
    s->wake_at = deadline_mono_ns;
    s->cv.notify_one();
  }
  return Armed(id);
}

bool DeadlineWatch::Disarm(uint64_t id) {
  State* s = g_state.load();
  std::lock_guard<std::mutex> lock(s->mu);
  auto it = s->deadline_of.find(id);
  if (it == s->deadline_of.end()) return true;  // fired (ids come from Arm only)
  s->by_deadline.erase(std::make_pair(it->second, id));
  s->deadline_of.erase(it);
  return false;
}

size_t DeadlineWatch::armed() const {
  State* s = g_state.load();
  std::lock_guard<std::mutex> lock(s->mu);
  return s->deadline_of.size();
}

DeadlineWatch::Armed::Armed(Armed&& other) noexcept : id_(other.id_), fired_(other.fired_) {
  other.id_ = 0;
}

DeadlineWatch::Armed& DeadlineWatch::Armed::operator=(Armed&& other) noexcept {
  if (this != &other) {
    Disarm();
    id_ = other.id_;
    fired_ = other.fired_;
    other.id_ = 0;
  }
  return *this;
}

DeadlineWatch::Armed::~Armed() { Disarm(); }

bool DeadlineWatch::Armed::Disarm() {
  if (id_ != 0) {
    fired_ = DeadlineWatch::Get().Disarm(id_);
    id_ = 0;
  }
  return fired_;
}

}  // namespace modelfn
