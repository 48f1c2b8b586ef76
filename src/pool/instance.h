// The seams between the pool and what runs a function: an Instance (one running copy of the
// function: a child process today) and an InstanceLauncher that starts them. The pool owns the
// decisions (scheduler.h); an instance only carries requests and reports what happens to it.
//
// The shapes are asynchronous: Send returns at once and the answer comes through a callback, so an
// event loop can drive the same interface later without a thread per instance.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pool/forward.h"
#include "pool/scheduler.h"

namespace modelfn {

// What became of one request sent to an instance.
struct InstanceResult {
  enum Kind {
    kAnswered,    // `reply` is the answer (the function's, or a problem about it such as
                  // response_too_large); the instance is fine
    kNotReached,  // the instance never saw the request (connection refused): safe to send again
    kFailed,      // the instance broke while it may have been working on it: `code`/`detail`
  };
  Kind kind = kAnswered;
  ForwardReply reply;
  bool function_error = false;  // kAnswered: the function reported an error
  std::string code, detail;     // kNotReached, kFailed: instance_crashed or out_of_memory
};
using InstanceResultFn = std::function<void(InstanceResult)>;

// What an instance reports on its own. Called from any thread, never from inside a call into the
// instance (the caller of Send/Stop/Kill may hold its own lock).
struct InstanceEvents {
  std::function<void()> ready;                          // init done: it takes requests now
  std::function<void(std::string message)> init_error;  // the function said why init failed
};

class Instance {
 public:
  virtual ~Instance() = default;
  // Sends `request` (tagged `id`). `done` is called exactly once, from any thread, unless the
  // request is returned by TakeUnreached() or the instance exits first (the pool then answers
  // for it). Never calls `done` before returning. Thread-safe.
  virtual void Send(uint64_t id, std::shared_ptr<const ForwardRequest> request,
                    InstanceResultFn done) = 0;
  // Asks the instance to exit (SIGTERM). Thread-safe, idempotent.
  virtual void Stop() = 0;
  // Ends it now, with whatever it started (SIGKILL to its process group). Thread-safe.
  virtual void Kill() = 0;
  // Non-blocking: whether it has exited, and how (kOutOfMemory when its memory limit killed it).
  // Once it has returned a value it returns the same value again. Thread-safe.
  virtual std::optional<Scheduler::Exit> PollExit() = 0;
  // The ids of requests sent but not yet handed to the function (a lambda-mode instance takes
  // work only when it asks for it). Their `done` is dropped; the caller sends them elsewhere.
  virtual std::vector<uint64_t> TakeUnreached() = 0;
  virtual pid_t pid() const = 0;
  // True when it was forked from a template process (template_launcher.h), false when exec'd.
  virtual bool forked() const { return false; }
  // Releases what it holds (threads, descriptors, memory group). May block briefly (joins);
  // called once, after it has exited, without locks held.
  virtual void Close() = 0;
};

struct LaunchRequest {
  uint64_t id = 0;
  std::string name;     // <function>-<version>-<id>
  std::string version;  // model version it runs
  bool prewarmed = false;
};

class InstanceLauncher {
 public:
  virtual ~InstanceLauncher() = default;
  // Starts an instance. Events come later, from other threads, never from inside Launch.
  // Errors: Unavailable when it cannot be started (the message is the init error to report).
  // Thread-safe.
  virtual StatusOr<std::shared_ptr<Instance>> Launch(const LaunchRequest& request,
                                                     InstanceEvents events) = 0;
  // Gets ready for launches soon (a launcher may fork a process ahead). Thread-safe.
  virtual void Prepare() {}
  // The model version new instances will run (the pool's start, then each SetVersion): a
  // launcher may get ready for it ahead (a template process). Thread-safe.
  virtual void UseVersion(const std::string& version) { (void)version; }
  // Releases what is held for future launches (a forked spare, a template). Thread-safe.
  virtual void Shutdown() {}
  // What launches will use for now, for status pages: "" (nothing to say), or a template's
  // state ("starting", "ready", "failed: <why>", "off"). Thread-safe.
  virtual std::string template_state() const { return ""; }
};

}  // namespace modelfn
