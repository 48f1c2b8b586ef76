// A template process for one function version: modelfn-fn in template mode (docs/platform.md,
// "Template instances"), which does the init once (ONNX Runtime environment, session, warm-up) and
// then forks ready instances on request, each in a millisecond or two instead of a full init.
//
// The instances are forked twice over so that they end up children of this process, not of the
// template: this process must be a child subreaper (BecomeChildSubreaper) and reaps and signals
// them as it would exec'd instances (each leads its own process group). They die with this
// process (PR_SET_PDEATHSIG, set once reparented: the kernel picks this process's first live
// thread as the new parent, normally the main thread, so the main thread must outlive them).
// Stopping or killing the template stops new forks only: running instances share nothing with
// it but read-only pages.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace modelfn {

// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): orphaned descendants, forked
// instances among them, become its children. Whoever reaps children here must then expect pids
// it did not start (an instance's own orphans) and reap them too. Errors: Unavailable.
Status BecomeChildSubreaper();

struct TemplateSpec {
  std::string binary;                      // modelfn-fn
  std::vector<std::string> args;           // argv[1..]
  std::map<std::string, std::string> env;  // the template's whole environment: what the init
                                           // reads (MODELFN_MODEL, MODELFN_ORT_*, cache, store
                                           // credentials); the control socket's variable is added
  std::string log_path;                    // the template's stdout and stderr are appended here
};

struct InstanceSpec {
  std::map<std::string, std::string> env;  // the instance's whole environment (PORT, MODELFN_HOST
                                           // or AWS_LAMBDA_RUNTIME_API, ...); its MODELFN_MODEL, if
                                           // set, must be the template's
  int log_fd = -1;    // borrowed: the instance's stdout and stderr (-1: the template's log)
  int ready_fd = -1;  // borrowed: write end of a readiness pipe, MODELFN_READY_FD in the instance
  int64_t rlimit_as_bytes = 0;  // > 0: the instance's RLIMIT_AS
  std::string cgroup_procs;     // non-empty: a cgroup.procs file the instance joins before serving
};

class TemplateClient {
 public:
  // Starts the template (fork + exec from the calling thread: its PR_SET_PDEATHSIG follows that
  // thread, so call from a thread that lives as long as the platform). Returns at once; the init
  // runs in the template. Errors: Unavailable when the log, the socket or the process cannot be
  // made.
  static StatusOr<std::unique_ptr<TemplateClient>> Start(const TemplateSpec& spec,
                                                         const Clock* clock);
  // Stops the template (Stop()).
  ~TemplateClient();
  TemplateClient(const TemplateClient&) = delete;
  TemplateClient& operator=(const TemplateClient&) = delete;

  // Waits until the template's init is done, up to timeout_ms. Ok: ready to fork. The init failed:
  // FailedPrecondition whose reason() is the template's problem code ("model_not_found",
  // "template_threads" when the template cannot be forked safely, ...) and whose message is its
  // error. DeadlineExceeded: still initialising. Unavailable: the template died without a word.
  // Once ok, later calls return ok at once.
  Status WaitReady(int timeout_ms);

  // Forks an instance (after WaitReady is ok). Returns its pid, a child of this process that the
  // caller reaps. Errors: FailedPrecondition before ready, or reason "template_threads" when the
  // template has grown a thread (exec instead); InvalidArgument (reason
  // "model_mismatch") when spec.env names another model; Unavailable when the template is gone or
  // its fork failed; DeadlineExceeded when no answer came within timeout_ms (the client stops
  // taking commands: a late answer could not be told from the next one). The instance checks
  // its own setup after this returns: a failure there (this process not a subreaper, a cgroup it
  // cannot join) is its exit with a line in its log. Blocking (about a millisecond): call from
  // the worker pool, not an event loop. Thread-safe; forks are serialised.
  StatusOr<pid_t> Fork(const InstanceSpec& spec, int timeout_ms);

  // Closes the control socket (the template exits by itself), then after grace_ms kills the
  // template's process group and reaps it. Instances keep running. Idempotent.
  void Stop(int grace_ms = 1000);

  // The template's pid (-1 once stopped).
  pid_t pid() const { return pid_.load(); }
  // The template's init summary (JSON: model, version, runtime_init_ms, model_load_ms, ...), once
  // ready.
  const std::string& init_summary() const { return init_summary_; }

 private:
  TemplateClient(pid_t pid, int control_fd, const Clock* clock)
      : pid_(pid), control_fd_(control_fd), clock_(clock) {}

  std::mutex mu_;
  std::atomic<pid_t> pid_;
  int control_fd_;
  const Clock* clock_;
  bool ready_ = false;
  Status failed_ = Status::Ok();  // the init's failure, once known
  std::string init_summary_;
};

}  // namespace modelfn
