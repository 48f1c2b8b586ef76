// The two kinds of process-backed instance (see process_launcher.h). Internal to src/pool: the
// pool reaches them through instance.h only.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "http/http_server.h"
#include "platform/config.h"
#include "pool/instance.h"
#include "pool/pool.h"

namespace modelfn {

// What every child-process instance shares: signals, reaping, its memory and CPU groups and
// record.
class ProcessInstance : public Instance {
 public:
  ProcessInstance(const PoolEnv& env, InstanceEvents events) : env_(env), events_(events) {}
  void Stop() override;
  void Kill() override;
  std::optional<Scheduler::Exit> PollExit() override;
  pid_t pid() const override;
  bool forked() const override { return forked_.load(); }
  void Close() override;

  // Set once by the launcher: before Launch returns, or later from a worker thread for an
  // instance whose process waits for its template (until then it counts as starting; a Stop or
  // Kill meanwhile is carried out here). `group_dir` is its memory cgroup and `cpu_group` its CPU
  // group's handle (CpuLimiter::CreateGroup), both "" for none; Close removes them.
  void Started(pid_t pid, std::string group_dir, bool forked = false, std::string cpu_group = "");
  // Instead of Started: its process could not be started; it counts as exited.
  void StartFailed();
  std::string group_dir() const {
    std::lock_guard<std::mutex> lock(mu_);
    return group_dir_;
  }

 protected:
  // A copy: an instance may outlive its launcher (Close after the launcher stopped).
  const PoolEnv env_;
  const InstanceEvents events_;
  mutable std::mutex mu_;
  bool stopping_ = false;  // guarded by mu_

 private:
  std::atomic<pid_t> pid_{-1};  // written under mu_
  std::atomic<bool> forked_{false};
  std::string group_dir_;                // written under mu_, before pid_
  std::string cpu_group_;                // written under mu_, before pid_
  bool killed_ = false;                  // guarded by mu_
  bool kill_when_started_ = false;       // guarded by mu_
  std::optional<Scheduler::Exit> exit_;  // guarded by mu_
};

// Serves the instance's Runtime API endpoint on a listener attached to the gateway's event loops
// (PoolEnv::runtime_api), or without one on a server and thread of its own.
class LambdaInstance final : public ProcessInstance {
 public:
  // Binds the endpoint (AWS_LAMBDA_RUNTIME_API is endpoint()). Errors: Unavailable.
  static StatusOr<std::shared_ptr<LambdaInstance>> Create(const FunctionConfig& fn,
                                                          const PoolEnv& env,
                                                          InstanceEvents events);
  ~LambdaInstance() override;
  std::string endpoint() const;

  void Send(uint64_t id, std::shared_ptr<const ForwardRequest> request,
            InstanceResultFn done) override;
  std::vector<uint64_t> TakeUnreached() override;
  void Close() override;

 private:
  LambdaInstance(const FunctionConfig& fn, const PoolEnv& env, InstanceEvents events);
  void OnRuntimeApi(HttpRequest req, HttpResponder respond);

  struct Pending {
    uint64_t id = 0;
    std::string lambda_id;
    HttpResponse next;  // the "next" answer carrying the event; moved out when handed over
    InstanceResultFn done;
    bool raw = false;  // ForwardRequest::raw_event
  };
  const std::string function_;
  const double timeout_s_;
  int port_ = 0;
  uint64_t attached_id_ = 0;         // on env_.runtime_api; 0: own server or detached
  std::mutex detach_mu_;             // one Close detaches
  std::unique_ptr<HttpServer> api_;  // the fallback without a RuntimeApiHost
  std::thread api_thread_;
  // guarded by mu_:
  bool ready_ = false;
  HttpResponder parked_;  // a "next" call waiting for work
  std::deque<Pending> pending_;
  std::unordered_map<std::string, Pending> handed_;  // Lambda request id -> request
};

// An instance serving HTTP on a loopback port it reports through the readiness pipe.
class HttpInstance final : public ProcessInstance,
                           public std::enable_shared_from_this<HttpInstance> {
 public:
  HttpInstance(const FunctionConfig& fn, const PoolEnv& env, InstanceEvents events)
      : ProcessInstance(env, events),
        timeout_s_(fn.timeout_s),
        memory_mb_(fn.memory_mb),
        face_(fn.face) {}
  // Waits for the readiness line on one of env.workers; takes ownership of `ready_fd`. The ready
  // event is never sent after Close returned.
  void AwaitReady(int ready_fd);

  void Send(uint64_t id, std::shared_ptr<const ForwardRequest> request,
            InstanceResultFn done) override;
  std::vector<uint64_t> TakeUnreached() override { return {}; }
  void Close() override;

 private:
  // The exchange for `request` with the instance listening on `port`.
  UpstreamCall MakeCall(int port, const ForwardRequest& request) const;
  // What an exchange's outcome means for the request and the instance.
  InstanceResult Result(StatusOr<HttpReply> reply, HttpFailure failure);

  const double timeout_s_;
  const int memory_mb_;
  const InstanceFace face_;  // the path it is sent requests on (face_path.h)
  std::mutex ready_mu_;      // held while the ready event is sent, and by Close
  bool closed_ = false;      // guarded by ready_mu_
  int port_ = 0;             // guarded by mu_
};

}  // namespace modelfn
