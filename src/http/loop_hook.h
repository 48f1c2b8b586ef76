// Something else an HttpServer's event loop carries besides its connections: one descriptor the
// loop watches for readability (e.g. the epoll set and wakeup of an upstream client,
// upstream.h), and a sweep once a second for its deadlines. HttpServer::AddLoopHooks installs one
// per loop; the hook's methods then run on that loop's thread only.
#pragma once

#include <cstdint>

namespace modelfn {

class LoopHook {
 public:
  virtual ~LoopHook() = default;
  // The descriptor the loop watches (level-triggered EPOLLIN). Constant for the hook's life.
  virtual int fd() const = 0;
  // fd() is readable. Must not block.
  virtual void OnReady() = 0;
  // About once a second, with the loop's monotonic milliseconds (poller.h MonotonicMs).
  virtual void Sweep(int64_t now_ms) = 0;
  // The loop starts serving, and (on its thread, last) it has stopped: nothing of the hook runs
  // on it any more until it starts again.
  virtual void LoopStarted() {}
  virtual void LoopExited() {}
};

}  // namespace modelfn
