// Instances as child processes (what `modelfn up` runs): modelfn-fn or a custom runtime, started
// with an explicit environment, in a memory group (process.h) and, for a function with `cpus:`, a
// CPU group (cpu_limit.h: a cgroup joined before exec, or the emulation attached by pid right after
// the fork), in one of two modes:
//   - lambda: the instance polls a Runtime API endpoint of its own (the AWS protocol: next,
//     response, error, init/error); a request becomes an API Gateway HTTP API 2.0 event, and the
//     function's answer is read back as that integration's response. Ready at its first "next".
//   - http: the instance listens on a private loopback port it reports on a readiness pipe, and
//     takes up to `concurrency` requests at once (forwarded on the pool's worker threads).
#pragma once

#include <memory>
#include <mutex>

#include "platform/config.h"
#include "pool/instance.h"
#include "pool/pool.h"
#include "pool/process.h"

namespace modelfn {

class ProcessInstance;
class HttpInstance;

// An instance not yet started and how to start it: its process's program, environment (with its
// CPU share, CpuLimiter::InstanceEnv), log and memory limit (cgroup folders are made by the
// launcher), and the instance object that will carry its requests (`http` is `in` in http mode,
// null in lambda mode).
struct PreparedInstance {
  LaunchSpec spec;
  std::shared_ptr<ProcessInstance> in;
  std::shared_ptr<HttpInstance> http;
};
// Errors: Unavailable when a lambda-mode instance's Runtime API endpoint cannot be bound.
StatusOr<PreparedInstance> PrepareInstance(const FunctionConfig& fn, const PoolEnv& env,
                                           const LaunchRequest& request, InstanceEvents events);

// The CPU group of instance `name` (FunctionConfig::cpus) on env.cpu: its handle, "" when the
// function sets no share or the platform enforces none. Errors: as CpuLimiter::CreateGroup; the
// instance is then not started (it never runs without its share).
StatusOr<std::string> CreateCpuGroup(const FunctionConfig& fn, const PoolEnv& env,
                                     const std::string& name);
// True when env.cpu's groups are cgroups, which a process joins itself (ChildProcsFile).
bool CpuGroupsJoinedInChild(const PoolEnv& env);
// Puts `pid` in `group` from this process where the child does not join it itself (the
// emulation); Ok for "" and for cgroups. Errors: as CpuLimiter::Attach.
Status AttachCpuGroup(const PoolEnv& env, const std::string& group, pid_t pid);
void RemoveCpuGroup(const PoolEnv& env, const std::string& group);

class ProcessLauncher final : public InstanceLauncher {
 public:
  // `env` (and what it points to) must outlive the launcher and every instance it starts.
  ProcessLauncher(FunctionConfig fn, const PoolEnv& env);
  ~ProcessLauncher() override;

  // Errors: Unavailable when the Runtime API endpoint cannot be bound or the process cannot be
  // started or its CPU group made. Also keeps a spare process forked ahead (where memory cgroups
  // are used; it joins the CPU cgroup too).
  StatusOr<std::shared_ptr<Instance>> Launch(const LaunchRequest& request,
                                             InstanceEvents events) override;
  // Starts the process of an instance prepared by PrepareInstance (Launch is the two together).
  // On failure the instance is left as it was (the caller closes it or reports it failed).
  // Errors: Unavailable when the process cannot be started.
  Status Start(PreparedInstance* prepared, const LaunchRequest& request);
  // Discards the spare; later launches start without one.
  void Shutdown() override;
  // Forks the next spare on a worker thread (cgroups only: joining one is the slow part).
  void Prepare() override { RefillSpare(); }

 private:
  bool UseSpares() const;
  void RefillSpare();

  const FunctionConfig fn_;
  const PoolEnv env_;
  std::mutex mu_;
  bool shutdown_ = false;
  std::unique_ptr<Spare> spare_;
  bool spare_pending_ = false;
  uint64_t next_spare_ = 1;
};

}  // namespace modelfn
