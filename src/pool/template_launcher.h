// Instances forked from a template process (template_client.h) instead of exec'd: one template per
// function version, started when the pool starts (or its version changes) on a worker thread,
// replaced by the next version's, stopped with the pool. A launch forks from the template once it
// is ready; a launch while it initialises waits for it (the instance counts as starting, its
// process is started by the worker that saw the init end); when the template cannot serve (its
// init failed, it refused because it has threads) instances are exec'd by a ProcessLauncher, the
// reason logged once per template. A template that dies or stops answering is replaced; the
// launch that found out is exec'd.
//
// Memory limits are the process launcher's kinds: RLIMIT_AS set by the instance, or a cgroup a
// worker thread moves the forked instance into right after the fork (the exec spare does not
// apply to forks; joining in the instance would cost it an RCU grace period on the cold path).
// CPU limits (FunctionConfig::cpus, cpu_limit.h) must hold from the first request on: a CPU
// cgroup is joined by the instance itself before it serves (InstanceSpec::cgroup_procs; the join
// may cost its cold start an RCU grace period, 4-12 ms measured on cgroup v1 here, none when
// another join just paid it), and the emulation attaches the instance's pid right after the fork,
// before the instance counts as started. The template itself is not limited: it serves no
// request, and limiting its init would only delay the first instance (its instances' work is
// what the share is for). The share also reaches instances in MODELFN_CPUS.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "platform/config.h"
#include "pool/instance.h"
#include "pool/pool.h"
#include "pool/process_launcher.h"
#include "pool/template_client.h"

namespace modelfn {

class TemplateLauncher final : public InstanceLauncher {
 public:
  // `fn` must run modelfn-fn (no custom command). `env` (and what it points to) must outlive the
  // launcher; env.workers starts templates (a worker thread lives as long as the platform, which
  // the template's death signal follows).
  TemplateLauncher(FunctionConfig fn, const PoolEnv& env);
  ~TemplateLauncher() override;

  // Forks when the template of request.version is ready, defers while it starts, else execs.
  // A fork runs on a worker thread (so does the exec a failed fork falls back to): the instance
  // returned has no process yet, and is found exited if neither could start it. Errors: as
  // ProcessLauncher::Launch, for an exec started here.
  StatusOr<std::shared_ptr<Instance>> Launch(const LaunchRequest& request,
                                             InstanceEvents events) override;
  void Prepare() override { exec_.Prepare(); }
  // Starts the template of `version` (if not already the current one) and stops the previous one;
  // its instances keep running.
  void UseVersion(const std::string& version) override;
  // Stops the template (instances keep running until the pool stops them) and the exec spare.
  void Shutdown() override;
  std::string template_state() const override;

 private:
  struct Template;
  struct Waiting;
  // Starts `t` on a worker thread, waits for its init there, then starts the launches that
  // waited for it.
  void StartLocked(const std::shared_ptr<Template>& t);
  void StopLater(std::shared_ptr<Template> t);
  // Forks the prepared instance from `t`; on failure decides what becomes of `t` (refused:
  // failed for good; gone or stuck: replaced) and returns the error (the caller execs).
  Status ForkPrepared(const std::shared_ptr<Template>& t, PreparedInstance* prepared,
                      const LaunchRequest& request);
  Status Fork(const std::shared_ptr<Template>& t, PreparedInstance* prepared,
              const LaunchRequest& request);
  // For a launch that waited: exec, or report the instance exited.
  void StartByExec(PreparedInstance* prepared, const LaunchRequest& request);
  // Under mu_: kills `t`'s process while its init runs.
  void KillStarting(Template* t);
  void JobDone();
  void Log(const std::string& level, const std::string& message) const;

  const FunctionConfig fn_;
  const PoolEnv env_;
  ProcessLauncher exec_;
  mutable std::mutex mu_;
  bool shutdown_ = false;              // guarded by mu_
  std::shared_ptr<Template> current_;  // guarded by mu_
  int jobs_ = 0;                       // worker jobs using this launcher, guarded by mu_
  std::condition_variable jobs_done_;
};

}  // namespace modelfn
