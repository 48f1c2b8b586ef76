// One function version's instances, started on demand, held to min/max, stopped when idle,
// killed on timeout, replaced after a crash. Requests wait in a bounded queue while instances
// start or are busy (never dropped silently: each gets exactly one reply).
//
// Three parts: the Scheduler (scheduler.h) decides, an InstanceLauncher (instance.h; child
// processes by default, process_launcher.h) starts instances, and this class carries the
// scheduler's decisions out and reports what instances do back to it, under one lock. Time comes
// from the injected clock: Tick() drives every timer.
//
// Thread-safety: every public method may be called from any thread. Replies are delivered without
// the lock held, from the calling thread or an instance's.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "http/http_server.h"
#include "http/upstream.h"
#include "platform/config.h"
#include "pool/cpu_limit.h"
#include "pool/forward.h"
#include "pool/init_slots.h"
#include "pool/instance.h"
#include "pool/process.h"
#include "pool/scaler.h"
#include "pool/scheduler.h"
#include "pool/worker_threads.h"

namespace modelfn {

// Where lambda-mode instances serve their Runtime API: the platform's gateway serves each on a
// loopback listener of its own event loops (HttpServer::Attach), so an instance adds no thread.
// Thread-safe.
class RuntimeApiHost {
 public:
  virtual ~RuntimeApiHost() = default;
  // Serves `handler` on a new listener at 127.0.0.1:<free port> with `options`' limits. Errors:
  // Unavailable (no port, or no server to attach to: the instance then serves its own).
  virtual StatusOr<HttpServer::Attached> Attach(AttachOptions options,
                                                AsyncHttpHandler handler) = 0;
  // Closes it and its connections soon, without waiting for the loops (an instance may be
  // closed under its pool's lock, which a loop may be waiting for): `handler` may still be
  // called a little later, so it must not outlive what it refers to (hold it weakly).
  virtual void Detach(uint64_t id) = 0;
};

// What a pool shares with the rest of the platform.
struct PoolEnv {
  std::string fn_binary;     // modelfn-fn
  std::string store_uri;     // file:///abs/models, s3://bucket/prefix, ...
  std::string log_dir;       // instance output goes to <log_dir>/<function>.log
  std::string instance_dir;  // running instances' process groups (RecordInstance), "" for none
  std::map<std::string, std::string> base_env;  // passed to every instance
  const Clock* clock = nullptr;
  const MemoryLimiter* memory = nullptr;
  // Enforces FunctionConfig::cpus on each instance; null: no CPU limits (as kNone).
  const CpuLimiter* cpu = nullptr;
  WorkerThreads* workers = nullptr;
  int init_timeout_ms = 10'000;  // Lambda's init phase limit
  int stop_grace_ms = 2'000;     // SIGTERM, then SIGKILL after this
  // Instances initialising at once; 0: as many as the CPUs this process may use (cpu_quota.h).
  int max_concurrent_inits = 0;
  // What starts instances; null: child processes (process_launcher.h). Not owned.
  InstanceLauncher* launcher = nullptr;
  // Inits running at once across the pools sharing it; null: InitSlots::Host(). Not owned.
  InitSlots* init_slots = nullptr;
  // Starts instances from a template process where the function allows it (template_launcher.h;
  // FunctionConfig::start), when `launcher` is null.
  bool templates = false;
  // Serves lambda-mode instances' Runtime API; null: each instance runs its own server on a
  // thread (tests without a gateway). Not owned.
  RuntimeApiHost* runtime_api = nullptr;
  // Carries requests to http-mode instances (the gateway's event loops, loop_upstream.h); null:
  // a blocking client on `workers` (tests without a gateway). Not owned.
  Upstream* upstream = nullptr;
  // MODELFN_MODEL for every instance instead of <store_uri>/<model>@<version>: a folder or a
  // store URI (modelfn invoke). "": the store's.
  std::string model_override;
  // Where launchers say what the user should know (a template that cannot serve); may be empty.
  std::function<void(const std::string& level, const std::string& message)> log;
};

struct InstanceInfo {
  std::string name;
  pid_t pid = -1;
  std::string state;  // starting | idle | busy | stopping
  std::string version;
  int active = 0;
  uint64_t served = 0;
  double age_s = 0;
  double init_ms = 0;  // start to ready; 0 while starting
  bool prewarmed = false;
  bool forked = false;  // from a template, not exec'd
};

struct PoolSnapshot {
  std::string function;
  std::string version;
  std::string mode;
  size_t queued = 0;
  int starting = 0, idle = 0, busy = 0, stopping = 0;
  std::vector<InstanceInfo> instances;
  PoolCounters counters;
  std::string last_init_error;
  std::string template_state;  // InstanceLauncher::template_state()
};

class InstancePool {
 public:
  // `version` is the model version instances run; SetVersion changes it for new instances.
  InstancePool(FunctionConfig fn, std::string version, const PoolEnv& env);
  ~InstancePool();
  InstancePool(const InstancePool&) = delete;
  InstancePool& operator=(const InstancePool&) = delete;

  // Starts min_instances (pre-warmed).
  void Start();
  // Queues the request; `done` is called exactly once, from any thread.
  void Submit(ForwardRequest request, ReplyFn done);
  // Timers: queue expiry, timeouts, reaping, scale in and out. The platform calls it often
  // (every ~20 ms); it is cheap when nothing is due.
  void Tick();
  // When Tick next has timed work (monotonic ns of the injected clock), nullopt when none: an
  // event loop arms one timer instead of ticking at a fixed rate. Instances exiting are not
  // timed: they are found by Tick (or, later, by the loop watching them).
  std::optional<int64_t> NextDeadline() const;
  // A new model version (the store pointer moved): new instances run it; old ones finish what they
  // serve and stop once a new one is ready.
  void SetVersion(const std::string& version);
  std::string version() const;
  PoolSnapshot Snapshot() const;
  // Answers waiting requests 503, stops every instance (SIGTERM, then SIGKILL), joins threads.
  void Shutdown();

 private:
  struct Live {
    std::shared_ptr<Instance> instance;
    std::string name;
    std::string version;
  };
  struct Request {
    std::shared_ptr<const ForwardRequest> request;
    ReplyFn done;
    bool dispatched = false;
    bool cold = false;
    // Held-batch merging (FunctionConfig::held_batch): -1 not checked yet, else whether it may
    // travel merged; `solo` once a merged send gave it back (it then goes alone).
    int8_t mergeable = -1;
    bool solo = false;
    int64_t dispatched_ns = 0;
    std::string instance_name, version;
  };
  // Work to do after the lock is released: replies, sends, joins.
  struct Deferred {
    std::vector<std::function<void()>> work;
    void Reply(ReplyFn fn, ForwardReply r) {
      work.emplace_back([fn = std::move(fn), r = std::move(r)]() mutable { fn(std::move(r)); });
    }
    void Run() {
      for (auto& w : work) w();
    }
  };

  void ApplyLocked(const SchedActions& actions, Deferred* d);
  void LaunchLocked(const SchedAction& start, Deferred* d);
  void ReplyLocked(uint64_t rid, ForwardReply reply, Deferred* d);
  // Dispatches request `rid` (the scheduler's kDispatch) to `in`, merged with queued requests
  // when the function holds batches.
  void SendLocked(const SchedAction& a, Live& in, Deferred* d);
  bool MergeableLocked(Request& r);
  // The send of `rid` failed; a merged send fails every request it carried.
  void FailSentLocked(uint64_t rid, bool reached, const std::string& code,
                      const std::string& detail, int64_t now, Deferred* d);
  // A merged send's answer: each member its share, or all sent again alone.
  void SplitLocked(const std::vector<uint64_t>& members, InstanceResult result, int64_t now,
                   Deferred* d);
  void ReapLocked(Deferred* d);
  // The host-wide init budget: the scheduler sees what is free; a start takes a slot, which is
  // given back when the instance is ready or gone.
  void SyncInitRoomLocked() { sched_.set_host_init_room(slots_->Free()); }
  void GiveSlotLocked(uint64_t instance) {
    if (holding_slot_.erase(instance) > 0) slots_->Give();
  }
  void OnResult(uint64_t rid, uint64_t instance, InstanceResult result);
  void OnReady(uint64_t instance);
  void OnInitError(std::string message);
  ForwardReply ProblemReply(const std::string& code, const std::string& detail) const;
  void NoteQueueLocked() {
    would_queue_.store(fn_.held_batch > 1 && sched_.WouldQueue(), std::memory_order_relaxed);
  }

  const FunctionConfig fn_;
  const PoolEnv env_;
  std::unique_ptr<InstanceLauncher> own_launcher_;
  InstanceLauncher* launcher_;
  InitSlots* const slots_;
  mutable std::mutex mu_;
  std::string version_;
  Scheduler sched_;
  bool shutdown_ = false;
  uint64_t next_request_ = 1;
  std::map<uint64_t, Live> instances_;
  std::unordered_map<uint64_t, Request> requests_;
  // Merged sends in flight: the request whose id the send carries -> the others it carries.
  std::unordered_map<uint64_t, std::vector<uint64_t>> riders_;
  std::set<uint64_t> holding_slot_;  // starting instances holding an init slot
  // Whether a request submitted now would wait (Scheduler::WouldQueue, as of the last change):
  // Submit then checks whether it may travel merged before taking the lock, so the parse runs
  // on the caller's thread in parallel instead of under the lock.
  std::atomic<bool> would_queue_{true};
};

}  // namespace modelfn
