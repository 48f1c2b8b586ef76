#include "platform/tls_front.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "http/accept.h"

namespace modelfn {
namespace {

std::string SslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return e ? buf : "unknown TLS error";
}

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

void TlsFront::Linger(int fd) {
  // Closing with unread bytes makes the kernel send a reset, which can overtake the answer just
  // relayed: a client still sending a body the gateway refused would see a broken connection,
  // not the refusal. So end our side (close_notify is out, now FIN) and read and drop what the
  // client still sends until it closes, for at most kLingerMs and kLingerBytes.
  shutdown(fd, SHUT_WR);
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLingerMs);
  size_t budget = kLingerBytes;
  char sink[65536];
  while (!stopping_.load()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
    if (r < 0 && errno != EINTR) return;
    if (r <= 0) continue;
    ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0) return;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return;
    }
    if (static_cast<size_t>(n) >= budget) return;
    budget -= static_cast<size_t>(n);
  }
}

StatusOr<std::unique_ptr<TlsFront>> TlsFront::Create(const TlsConfig& config,
                                                     const std::string& host, int port,
                                                     int backend_port) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return InternalError("cannot create a TLS context: " + SslError());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  auto fail = [&](const std::string& what) {
    std::string e = what + ": " + SslError();
    SSL_CTX_free(ctx);
    return InvalidArgumentError(e);
  };
  if (SSL_CTX_use_certificate_chain_file(ctx, config.cert.c_str()) != 1) {
    return fail("cannot load the certificate " + config.cert);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, config.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("cannot load the key " + config.key);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("the key does not match the certificate");
  if (!config.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config.client_ca.c_str(), nullptr) != 1) {
      return fail("cannot load the client CA " + config.client_ca);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) {
    SSL_CTX_free(ctx);
    return UnavailableError("cannot resolve " + host);
  }
  int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bool ok = bind(fd, res->ai_addr, res->ai_addrlen) == 0 && listen(fd, 1024) == 0;
  freeaddrinfo(res);
  if (!ok) {
    std::string e = strerror(errno);
    close(fd);
    SSL_CTX_free(ctx);
    return UnavailableError("cannot listen on " + host + ":" + std::to_string(port) + ": " + e);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  ReserveDescriptorForAccept();
  return std::unique_ptr<TlsFront>(new TlsFront(ctx, fd, bound, backend_port));
}

TlsFront::~TlsFront() {
  Shutdown();
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return relays_ == 0; });
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  SSL_CTX_free(ctx_);
}

void TlsFront::StopAccepting() {
  // Refused from now on, not left in the queue to be reset at exit.
  if (!listener_shut_.exchange(true)) shutdown(listen_fd_, SHUT_RDWR);
}

void TlsFront::Shutdown() {
  StopAccepting();
  stopping_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);  // ends the relays' polls
}

void TlsFront::Run() {
  while (!stopping_.load()) {
    if (listener_shut_.load()) {  // draining: the relays go on until Shutdown()
      usleep(50'000);
      continue;
    }
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    int fd = -1;
    AcceptResult got = AcceptOrShed(listen_fd_, SOCK_CLOEXEC, &fd);
    if (got == AcceptResult::kOutOfDescriptors) usleep(kAcceptBackoffMs * 1000);
    if (got != AcceptResult::kAccepted) continue;
    std::lock_guard<std::mutex> lock(mu_);
    open_fds_.push_back(fd);
    ++relays_;
    std::thread([this, fd] { Serve(fd); }).detach();
  }
  std::unique_lock<std::mutex> lock(mu_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  done_.wait(lock, [&] { return relays_ == 0; });
}

void TlsFront::Serve(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};  // the handshake must finish within 10 s
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  int backend = -1;
  if (SSL_accept(ssl) == 1) {
    timeval none{0, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    backend = ConnectLoopback(backend_port_);
  }
  if (backend >= 0) {
    char buf[65536];
    bool open = true;
    while (open && !stopping_.load()) {
      if (SSL_pending(ssl) == 0) {
        pollfd p[2] = {{fd, POLLIN, 0}, {backend, POLLIN, 0}};
        if (poll(p, 2, 1000) < 0 && errno != EINTR) break;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
          ssize_t n = read(backend, buf, sizeof buf);
          if (n <= 0 || SSL_write(ssl, buf, static_cast<int>(n)) <= 0) break;
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      }
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      for (int off = 0; off < n && open;) {
        ssize_t w = send(backend, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) open = false;
        off += static_cast<int>(std::max<ssize_t>(w, 0));
      }
    }
    // The gateway may answer and close before taking a whole request (a refusal before the body):
    // relay what it said before closing, so the client gets the answer, not just a reset.
    ssize_t n;
    while ((n = recv(backend, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      if (SSL_write(ssl, buf, static_cast<int>(n)) <= 0) break;
    }
    SSL_shutdown(ssl);
    close(backend);
    Linger(fd);
  }
  SSL_free(ssl);
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
  close(fd);
  if (--relays_ == 0) done_.notify_all();
}

}  // namespace modelfn
