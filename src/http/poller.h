// The readiness half of an event loop: an epoll set of descriptors, each tagged with a pointer
// the caller owns, level-triggered. One thread uses a Poller (not thread-safe).
#pragma once

#include <sys/epoll.h>

#include <cstdint>

namespace modelfn {

// Milliseconds on the monotonic clock (the loops' deadlines and timers).
int64_t MonotonicMs();

class Poller {
 public:
  Poller();  // an empty set (epoll_create1)
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Watches fd for `events` (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLEXCLUSIVE, ...; 0 = nothing
  // until Modify); Wait reports it with `tag`. Returns false (errno set) when epoll refuses.
  bool Add(int fd, uint32_t events, void* tag);
  // Changes what fd is watched for; the tag stays `tag`.
  bool Modify(int fd, uint32_t events, void* tag);
  // Stops watching fd. Call it before the descriptor is closed.
  void Remove(int fd);
  // Waits up to timeout_ms (-1: no limit) for ready descriptors; fills at most `max` entries of
  // `out` and returns how many (0 on timeout or EINTR).
  int Wait(epoll_event* out, int max, int timeout_ms);
  // The epoll descriptor itself: readable while a watched descriptor is ready (a poller can be
  // watched by another).
  int fd() const { return ep_; }

 private:
  int ep_;
};

}  // namespace modelfn
