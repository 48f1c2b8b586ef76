#include "http/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace modelfn {

Connection::Connection(int fd, ParserLimits limits) : parser(limits), fd_(fd) {}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

IoResult Connection::Read(char* buf, size_t n, size_t* got) {
  while (true) {
    ssize_t r = recv(fd_, buf, n, 0);
    if (r > 0) {
      *got = static_cast<size_t>(r);
      return IoResult::kOk;
    }
    if (r == 0) return IoResult::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::kWouldBlock;
    return IoResult::kError;
  }
}

IoResult Connection::Write(const char* buf, size_t n, size_t* put) {
  while (true) {
    ssize_t w = send(fd_, buf, n, MSG_NOSIGNAL);
    if (w > 0) {
      *put = static_cast<size_t>(w);
      return IoResult::kOk;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return IoResult::kWouldBlock;
    return IoResult::kError;
  }
}

void Connection::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

bool Connection::HasUnreadBytes() const {
  char next;
  return recv(fd_, &next, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void Connection::ResetRequest() {
  parser.Reset();
  req = HttpRequest();
  request_started_ms = 0;
}

}  // namespace modelfn
