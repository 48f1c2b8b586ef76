#include "http/poller.h"

#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace modelfn {

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

Poller::Poller() : ep_(epoll_create1(EPOLL_CLOEXEC)) {}

Poller::~Poller() {
  if (ep_ >= 0) close(ep_);
}

bool Poller::Add(int fd, uint32_t events, void* tag) {
  epoll_event e{};
  e.events = events;
  e.data.ptr = tag;
  return epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e) == 0;
}

bool Poller::Modify(int fd, uint32_t events, void* tag) {
  epoll_event e{};
  e.events = events;
  e.data.ptr = tag;
  return epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &e) == 0;
}

void Poller::Remove(int fd) { epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr); }

int Poller::Wait(epoll_event* out, int max, int timeout_ms) {
  int n = epoll_wait(ep_, out, max, timeout_ms);
  return n < 0 ? 0 : n;
}

}  // namespace modelfn
