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

StatusOr<std::pair<int, int>> Listen(const HttpServerOptions& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(options.port);
  int rc = getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(), port_str.c_str(),
                       &hints, &res);
  if (rc != 0) return UnavailableError("cannot resolve " + options.host + ": " + gai_strerror(rc));
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
    return UnavailableError("cannot listen on " + options.host + ":" + port_str + ": " + err);
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
  if (options.workers < 1) options.workers = 1;
  ASSIGN_OR_RETURN(auto fd_port, Listen(options));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(options), std::move(handler), nullptr,
                                                    fd_port.first, fd_port.second));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::CreateAsync(HttpServerOptions options,
                                                              AsyncHttpHandler handler) {
  if (options.workers < 1) options.workers = 1;
  ASSIGN_OR_RETURN(auto fd_port, Listen(options));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(options), nullptr, std::move(handler),
                                                    fd_port.first, fd_port.second));
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler,
                       AsyncHttpHandler async_handler, int listen_fd, int port)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      async_handler_(std::move(async_handler)),
      shared_(std::make_shared<HttpResponder::Shared>(options_.workers)),
      listen_fd_(listen_fd),
      port_(port) {
  ReserveDescriptorForAccept();
}

HttpServer::~HttpServer() {
  shared_->Close();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void HttpServer::Shutdown() {
  // Run() may return, and its owner destroy this server, as soon as the loops see draining_: after
  // that store only `shared` (which outlives the server) is touched.
  auto shared = shared_;
  // Stop listening at once, not only watching: a connection made during the drain is refused
  // instead of waiting in the kernel's queue to be reset at exit, even while every loop is busy in
  // a handler. The descriptor stays open (the loops' epoll sets hold it) until destruction.
  if (!listener_shut_.exchange(true)) shutdown(listen_fd_, SHUT_RDWR);
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
