#include "http/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http/accept.h"
#include "http/server_loop.h"

namespace modelfn {
namespace {

StatusOr<std::pair<int, int>> Listen(const std::string& host, int port_number) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(port_number);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_str.c_str(), &hints, &res);
  if (rc != 0) return UnavailableError("cannot resolve " + host + ": " + gai_strerror(rc));
  int fd = -1;
  std::string err;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
    err = strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    return UnavailableError("cannot listen on " + host + ":" + port_str + ": " + err);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return std::make_pair(fd, port);
}

}  // namespace

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options,
                                                         HttpHandler handler) {
  return Make(std::move(options), std::move(handler), nullptr);
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::CreateAsync(HttpServerOptions options,
                                                              AsyncHttpHandler handler) {
  return Make(std::move(options), nullptr, std::move(handler));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Make(HttpServerOptions options,
                                                       HttpHandler handler,
                                                       AsyncHttpHandler async_handler) {
  if (options.workers < 1) options.workers = 1;
  TlsServer* tls = options.tls.get();
  bool local = tls != nullptr && options.local_plain_listener;
  std::string host = options.host;
  int port = options.port;
  std::unique_ptr<HttpServer> server(
      new HttpServer(std::move(options), std::move(handler), std::move(async_handler)));
  ASSIGN_OR_RETURN(auto fd_port, Listen(host, port));
  server->listeners_.push_back(Listener{fd_port.first, fd_port.second, tls});
  if (local) {
    ASSIGN_OR_RETURN(auto local_fd_port, Listen("127.0.0.1", 0));
    server->listeners_.push_back(Listener{local_fd_port.first, local_fd_port.second, nullptr});
  }
  return server;
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler,
                       AsyncHttpHandler async_handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      async_handler_(std::move(async_handler)),
      shared_(std::make_shared<HttpResponder::Shared>(options_.workers)) {
  ReserveDescriptorForAccept();
}

HttpServer::~HttpServer() {
  shared_->Close();
  for (const Listener& l : listeners_) close(l.fd);
}

void HttpServer::Shutdown() {
  // Run() may return, and its owner destroy this server, as soon as the loops see draining_: after
  // that store only `shared` (which outlives the server) is touched.
  auto shared = shared_;
  // Stop listening at once, not only watching: a connection made during the drain is refused
  // instead of waiting in the kernel's queue to be reset at exit, even while every loop is busy in
  // a handler. The descriptor stays open (the loops' epoll sets hold it) until destruction.
  if (!listener_shut_.exchange(true)) {
    for (const Listener& l : listeners_) shutdown(l.fd, SHUT_RDWR);
  }
  draining_.store(true);
  shared->WakeAll();
}

void HttpServer::Run() {
  std::vector<std::thread> threads;
  for (int i = 1; i < options_.workers; ++i)
    threads.emplace_back([this, i] { ServerLoop(this, i).Run(); });
  ServerLoop(this, 0).Run();
  for (auto& t : threads) t.join();
}

}  // namespace modelfn
