#include "http/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace modelfn {

Connection::Connection(int fd, ParserLimits limits, TlsServer* tls) : parser(limits), fd_(fd) {
  if (tls != nullptr) {
    tls_ = tls->NewSession(fd_);
    handshaking_ = true;  // without a session the handshake fails at once: closed unserved
  }
}

Connection::~Connection() {
  tls_.reset();
  if (fd_ >= 0) close(fd_);
}

IoResult Connection::Handshake() {
  if (!handshaking_) return IoResult::kOk;
  if (tls_ == nullptr) return IoResult::kError;
  IoResult r = tls_->Handshake();
  if (r == IoResult::kOk) handshaking_ = false;
  return r == IoResult::kEof ? IoResult::kError : r;
}

IoResult Connection::ReadRaw(char* buf, size_t n, size_t* got) {
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

IoResult Connection::Read(char* buf, size_t n, size_t* got) {
  if (handshaking_) return IoResult::kError;
  if (tls_ == nullptr) return ReadRaw(buf, n, got);
  return tls_->Read(buf, n, got);
}

IoResult Connection::Write(const char* buf, size_t n, size_t* put) {
  if (handshaking_) return IoResult::kError;
  if (tls_ != nullptr) return tls_->Write(buf, n, put);
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

void Connection::ShutdownWrite() {
  if (tls_ != nullptr && !handshaking_) tls_->SendCloseNotify();
  shutdown(fd_, SHUT_WR);
}

bool Connection::HasUnreadBytes() const {
  if (tls_ != nullptr && tls_->HasBuffered()) return true;
  char next;
  return recv(fd_, &next, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void Connection::ResetRequest() {
  parser.Reset();
  req = HttpRequest();
  request_started_ms = 0;
}

}  // namespace modelfn
