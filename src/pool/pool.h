// One function version's instances: real child processes running modelfn-fn, started on demand,
// held to min/max, stopped when idle, killed on timeout, replaced after a crash. Requests wait in a
// bounded queue while instances start or are busy (never dropped silently: each gets exactly one
// reply). Scaling follows scaler.h; time comes from the injected clock.
//
// Two instance modes:
//   - lambda: the instance polls this pool's Runtime API endpoint for it (the AWS protocol: next,
//     response, error, init/error); a request becomes an API Gateway HTTP API 2.0 event, and the
//     function's answer is read back as that integration's response.
//   - http: the instance listens on a private loopback port it reports on a readiness pipe, and
//     takes up to `concurrency` requests at once.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "http/http_server.h"
#include "platform/config.h"
#include "pool/process.h"
#include "pool/scaler.h"
#include "pool/scheduler.h"
#include "pool/worker_threads.h"

namespace modelfn {

// What a pool shares with the rest of the platform.
struct PoolEnv {
  std::string fn_binary;     // modelfn-fn
  std::string store_uri;     // file:///abs/models, s3://bucket/prefix, ...
  std::string log_dir;       // instance output goes to <log_dir>/<function>.log
  std::string instance_dir;  // running instances' process groups (RecordInstance), "" for none
  std::map<std::string, std::string> base_env;  // passed to every instance
  const Clock* clock = nullptr;
  const MemoryLimiter* memory = nullptr;
  WorkerThreads* workers = nullptr;
  int init_timeout_ms = 10'000;  // Lambda's init phase limit
  int stop_grace_ms = 2'000;     // SIGTERM, then SIGKILL after this
};

struct ForwardRequest {
  std::string method = "POST";
  std::string path;  // as the function sees it ("/v1/infer")
  std::string query;
  std::string body;
  std::string content_type;
  std::string request_id;
  std::string source_ip;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercased names
  int64_t arrived_ns = 0;
};

struct ForwardReply {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string instance;     // instance name, "" when none served it
  std::string version;      // model version that served it
  bool cold_start = false;  // the request waited for an instance's init
  double queue_ms = 0;      // from arrival to dispatch
  std::string code;         // problem code when the platform answered for the function
};

using ReplyFn = std::function<void(ForwardReply)>;

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
  // A new model version (the store pointer moved): new instances run it; old ones finish what they
  // serve and stop once a new one is ready.
  void SetVersion(const std::string& version);
  std::string version() const;
  PoolSnapshot Snapshot() const;
  // Answers waiting requests 503, stops every instance (SIGTERM, then SIGKILL), joins threads.
  void Shutdown();

 private:
  enum class State { kStarting, kReady, kStopping };
  struct Instance {
    uint64_t id = 0;
    std::string name;
    pid_t pid = -1;
    std::string version;
    uint64_t generation = 0;
    State state = State::kStarting;
    int active = 0;
    uint64_t served = 0;
    int64_t started_ns = 0, ready_ns = 0, idle_since_ns = 0, stop_ns = 0;
    bool prewarmed = false;
    bool sigkilled = false;
    std::string group_dir;
    std::string exit_reason;  // why the platform killed it (answers its requests)
    // lambda mode
    std::unique_ptr<HttpServer> api;
    std::thread api_thread;
    HttpResponder parked;  // a "next" call waiting for work
    bool has_parked = false;
    // http mode
    int port = 0;
    int ready_fd = -1;
    std::thread starter;
  };
  struct Waiting {
    ForwardRequest request;
    ReplyFn done;
    int64_t deadline_ns = 0;
  };
  struct InFlight {
    uint64_t instance = 0;
    ForwardRequest request;
    ReplyFn done;
    int64_t deadline_ns = 0;
    int64_t dispatched_ns = 0;
    bool cold = false;
    std::string version;
    std::string instance_name;
    std::string lambda_id;
  };
  // Work to do after the lock is released: replies, thread joins, server shutdowns.
  struct Deferred {
    std::vector<std::function<void()>> work;
    void Reply(ReplyFn fn, ForwardReply r) {
      work.emplace_back([fn = std::move(fn), r = std::move(r)]() mutable { fn(std::move(r)); });
    }
    void Run() {
      for (auto& w : work) w();
    }
  };

  bool UseSpares() const;
  void RefillSpareLocked(Deferred* d);
  std::vector<InstanceView> ViewsLocked() const;
  void ScaleLocked(Deferred* d);
  void DispatchLocked(Deferred* d);
  void StartInstanceLocked(bool prewarmed, Deferred* d);
  void StartRequestLocked(Instance* in, Waiting w, Deferred* d);
  void FinishLocked(uint64_t rid, ForwardReply reply, Deferred* d);
  void KillLocked(Instance* in, const std::string& reason);
  void RemoveLocked(uint64_t id, Deferred* d);
  void FailQueuedLocked(const std::string& code, const std::string& detail, Deferred* d);
  ForwardReply ProblemReply(const std::string& code, const std::string& detail) const;
  void OnRuntimeApi(uint64_t instance_id, HttpRequest req, HttpResponder respond);
  void ForwardHttp(uint64_t rid, int port, ForwardRequest req, int timeout_ms);
  void AwaitReady(uint64_t instance_id, int fd);

  const FunctionConfig fn_;
  const PoolEnv env_;
  ScalingParams params_;
  mutable std::mutex mu_;
  std::string version_;
  uint64_t generation_ = 0;
  bool shutdown_ = false;
  uint64_t next_instance_ = 1;
  uint64_t next_request_ = 1;
  std::map<uint64_t, std::unique_ptr<Instance>> instances_;
  std::deque<Waiting> queue_;
  std::unordered_map<uint64_t, InFlight> inflight_;
  std::unordered_map<std::string, uint64_t> lambda_ids_;  // Lambda request id -> rid
  PoolCounters counters_;
  std::string last_init_error_;
  int64_t init_backoff_until_ns_ = 0;
  // One process forked ahead, already in its memory cgroup (see process.h), per pool.
  std::unique_ptr<Spare> spare_;
  bool spare_pending_ = false;
  uint64_t next_spare_ = 1;
};

// The API Gateway HTTP API (payload 2.0) event for a request, and its integration response back.
std::string BuildHttpApiEvent(const ForwardRequest& r, const std::string& request_id,
                              int64_t wall_ms);
ForwardReply ParseHttpApiResponse(std::string_view payload);

}  // namespace modelfn
