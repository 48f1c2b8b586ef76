// The decisions of one function's instance pool, as a single-threaded state machine with no I/O,
// no threads and no clock of its own: every event carries the time, and the answer is a list of
// actions for the caller to carry out (start, stop or kill an instance, send a request to one,
// answer a request with a problem). Timers are explicit: NextDeadline() says when Tick() has
// something to do, so a test moves a fake clock and ticks instead of waiting.
//
// What it owns (scaling rules in scaler.h):
//   - min/max instances, per-instance concurrency, idle TTL (scale to zero);
//   - concurrent inits: at most `max_concurrent_inits` instances start at once, and no more than
//     the host has room for (set_host_init_room): cold starts on the same cores slow each other
//     down; queued requests go to instances as they become ready;
//   - the bounded queue: full -> 429 `throttled`, waited past queue_timeout -> 503 `overloaded`
//     (the pool adds Retry-After);
//   - request timeouts: 504 `timeout` and the instance is killed;
//   - version drain: after NewVersion() old instances take nothing new and stop once idle;
//   - init failures: no instance starts for `init_backoff_ns` after one failed init; with no
//     other live instance, queued requests get `init_failed` and new ones are refused meanwhile;
//   - retries: a request that never reached its instance (connection refused, instance gone
//     before it took the request) goes back to the front of the queue; one that may have reached
//     it is retried only when the request is idempotent.
//
// Thread-safety: none. The owner serialises every call (a mutex today, the event loop later).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pool/scaler.h"

namespace modelfn {

struct PoolCounters {
  uint64_t requests = 0;
  uint64_t inits = 0;            // instances started (each one is a cold start)
  uint64_t prewarmed_inits = 0;  // of which to keep min_instances
  uint64_t cold_requests = 0;    // requests that waited for an init
  uint64_t throttled = 0;        // 429: queue full
  uint64_t queue_timeouts = 0;   // 503: waited too long
  uint64_t timeouts = 0;         // 504: the instance was killed
  uint64_t crashes = 0;          // instances that died while serving or idle
  uint64_t out_of_memory = 0;
  uint64_t init_failures = 0;
  uint64_t function_errors = 0;
  uint64_t retries = 0;        // requests sent again after their instance failed them
  uint64_t abandoned = 0;      // queued requests whose client left before an instance took them
  uint64_t held_batches = 0;   // merged sends (held_batch.h)
  uint64_t held_requests = 0;  // requests answered from them
  uint64_t held_resends = 0;   // merged sends whose answer could not be split (sent again alone)
  // Requests per merged send: buckets of at most 2, 4, 8, ... 256 requests, then more.
  std::array<uint64_t, 9> held_sizes{};
  uint64_t held_size_sum = 0;
  void CountHeld(size_t merged) {
    held_size_sum += merged;
    size_t b = 0;
    while (b + 1 < held_sizes.size() && merged > (size_t{2} << b)) ++b;
    ++held_sizes[b];
  }
};

struct SchedulerParams {
  std::string function;  // for problem details
  ScalingParams scaling;
  int max_concurrent_inits = 1;  // >= 1
  size_t max_queue = 64;
  int64_t queue_timeout_ns = 10'000'000'000;
  int64_t request_timeout_ns = 30'000'000'000;
  int64_t init_timeout_ns = 10'000'000'000;
  int64_t stop_grace_ns = 2'000'000'000;  // after Stop, Kill
  int64_t init_backoff_ns = 1'000'000'000;
  int max_attempts = 3;  // sends of one request, retries included
  int memory_mb = 0;     // for the out_of_memory detail
  double timeout_s = 30, queue_timeout_s = 10;
};

struct SchedAction {
  enum Kind {
    kStart,     // launch instance `instance` (a new id) running the current version
    kStop,      // ask `instance` to exit (SIGTERM); a Kill follows after the grace period
    kKill,      // kill `instance` now; `code` says why (timeout, init_timeout, stopped, crashed)
    kDispatch,  // send request `request` to `instance`
    kReply,     // answer `request` with problem `code`/`detail`; it is no longer tracked
  };
  Kind kind = kReply;
  uint64_t instance = 0;
  uint64_t request = 0;
  bool prewarmed = false;  // kStart: to keep min_instances, not for a waiting request
  bool cold = false;       // kDispatch: the request waited for this instance's init
  int64_t queued_ns = 0;   // kDispatch: arrival to dispatch
  std::string code;
  std::string detail;
};
using SchedActions = std::vector<SchedAction>;

class Scheduler {
 public:
  enum class State { kStarting, kReady, kStopping };
  struct InstanceState {
    uint64_t generation = 0;
    State state = State::kStarting;
    int active = 0;
    uint64_t served = 0;
    bool prewarmed = false;
    bool killed = false;
    std::string stop_reason;  // set when the scheduler stopped or killed it
    int64_t started_ns = 0, ready_ns = 0, idle_since_ns = 0, stop_ns = 0;
  };
  enum class Exit { kExited, kOutOfMemory };

  explicit Scheduler(SchedulerParams params);

  // Starts min_instances (pre-warmed).
  SchedActions Start(int64_t now);
  // A new request `id` (unique, chosen by the caller). Answered now (429, init_failed,
  // shutting_down), dispatched, or queued.
  SchedActions Submit(uint64_t id, bool idempotent, int64_t now);
  // The instance finished init and takes requests.
  SchedActions InstanceReady(uint64_t instance, int64_t now);
  // The instance answered `request`. Returns true when the answer is to be delivered, false when
  // the request was already answered (timeout, shutdown) and the answer is to be dropped.
  bool RequestDone(uint64_t request, int64_t now, SchedActions* out);
  // The instance failed `request` without an answer; `reached` says whether it may have seen it.
  // The instance is killed; the request is retried or answered with `code`/`detail`.
  SchedActions RequestFailed(uint64_t request, bool reached, const std::string& code,
                             const std::string& detail, int64_t now);
  // The instance's process is gone. Requests still on it are answered instance_crashed (or
  // out_of_memory), idempotent ones retried; an instance that died during init is an init failure
  // (`init_error` becomes the last init error when not empty). Requests it never took are to be
  // reported first with RequestFailed(reached=false).
  SchedActions InstanceExited(uint64_t instance, Exit how, const std::string& init_error,
                              int64_t now);
  // Moves queued requests onto the instance serving `leader`, to travel in the same send (the
  // pool merges them into one invocation, held_batch.h): front to back, each one `take` accepts,
  // at most `max`. Each is then in flight there like the leader (counted in the instance's
  // concurrency until it ends, cold when it arrived before the instance was ready) and ends with
  // its own RequestDone, RequestFailed or GiveBack. The send may take the request timeout once
  // per request it carries: every member's deadline becomes now + (1 + riders) x the timeout.
  // In queue order; none when `leader` is not in flight.
  struct Rider {
    uint64_t request = 0;
    bool cold = false;
  };
  std::vector<Rider> Attach(uint64_t leader, size_t max, const std::function<bool(uint64_t)>& take,
                            int64_t now);
  // The instance answered for `request` without serving it (a merged send whose answer could not
  // be split): it goes back to the front of the queue, this send not counted as an attempt, and
  // the instance carries on.
  SchedActions GiveBack(uint64_t request, int64_t now);
  // A new model version: new instances run it, old ones drain.
  SchedActions NewVersion(int64_t now);
  // Timers and scaling; cheap when nothing is due.
  SchedActions Tick(int64_t now);
  // Queued requests get shutting_down; every instance is asked to stop. Later submits are
  // refused.
  SchedActions Shutdown(int64_t now);
  // Requests still in flight get shutting_down (after the instances had their grace period).
  SchedActions FailInFlight(const std::string& code, const std::string& detail);

  // When Tick next has something to do; nullopt when nothing is timed.
  std::optional<int64_t> NextDeadline() const;

  // Inits the rest of the host leaves room for (a budget shared with other pools, init_slots.h):
  // starts are limited to that many more until the next call. Unlimited unless set.
  void set_host_init_room(int n) { host_init_room_ = n; }
  void set_init_error(std::string e) { last_init_error_ = std::move(e); }
  const std::string& last_init_error() const { return last_init_error_; }
  const PoolCounters& counters() const { return counters_; }
  PoolCounters& counters() { return counters_; }
  const std::map<uint64_t, InstanceState>& instances() const { return instances_; }
  size_t queued() const { return queue_.size(); }
  // Whether a request submitted now would wait: requests are queued, or no instance has room.
  bool WouldQueue() const { return !queue_.empty() || !PickInstance(p_.scaling, Views()); }
  // The instance serving `request`, 0 when it is queued or unknown.
  uint64_t InstanceOf(uint64_t request) const;

 private:
  struct Waiting {
    uint64_t id = 0;
    bool idempotent = false;
    bool cold_counted = false;  // counted in cold_requests already (once per request)
    int attempts = 0;
    int64_t arrived_ns = 0, deadline_ns = 0;
  };
  struct InFlight {
    Waiting w;
    uint64_t instance = 0;
    int64_t deadline_ns = 0;
  };

  std::vector<InstanceView> Views() const;
  void Dispatch(int64_t now, SchedActions* out);
  void Scale(int64_t now, SchedActions* out);
  void StartOne(bool prewarmed, int64_t now, SchedActions* out);
  void Kill(uint64_t instance, const std::string& reason, int64_t now, SchedActions* out);
  void Reply(uint64_t request, const std::string& code, const std::string& detail,
             SchedActions* out);
  void FailQueued(const std::string& code, const std::string& detail, SchedActions* out);
  int Starting() const;

  const SchedulerParams p_;
  uint64_t generation_ = 0;
  uint64_t next_instance_ = 1;
  bool shutdown_ = false;
  int host_init_room_ = 1 << 30;
  int64_t backoff_until_ns_ = 0;  // no instance starts before
  int64_t refuse_until_ns_ = 0;   // requests get init_failed before
  std::string last_init_error_;
  std::map<uint64_t, InstanceState> instances_;
  std::deque<Waiting> queue_;
  std::unordered_map<uint64_t, InFlight> inflight_;
  PoolCounters counters_;
};

}  // namespace modelfn
