#include "http/accept.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace modelfn {
namespace {

// The reserve descriptor, shared by every listener of the process: shedding is rare and brief,
// and one reserve is enough to take one connection off a queue at a time.
struct Reserve {
  std::mutex mu;
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
};

Reserve& TheReserve() {
  static Reserve* r = new Reserve;  // never destroyed: used by threads that may outlive main
  return *r;
}

bool OutOfDescriptors(int e) { return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM; }

}  // namespace

void ReserveDescriptorForAccept() {
  Reserve& r = TheReserve();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.fd < 0) r.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

AcceptResult AcceptOrShed(int listen_fd, int flags, int* fd) {
  while (true) {
    *fd = accept4(listen_fd, nullptr, nullptr, flags);
    if (*fd >= 0) return AcceptResult::kAccepted;
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (!OutOfDescriptors(errno)) return AcceptResult::kNone;
    break;
  }
  Reserve& r = TheReserve();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.fd < 0) r.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (r.fd < 0) return AcceptResult::kOutOfDescriptors;
  close(r.fd);
  int shed = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  int e = errno;
  if (shed >= 0) close(shed);
  // Another thread may take the freed number first; then the next call retries to reopen it.
  r.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (shed >= 0) return AcceptResult::kShed;
  return OutOfDescriptors(e) ? AcceptResult::kOutOfDescriptors : AcceptResult::kNone;
}

}  // namespace modelfn
