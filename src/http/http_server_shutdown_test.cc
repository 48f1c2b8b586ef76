// Shutdown() from another thread while the owner destroys the server as soon as Run() returns,
// as modelfn-fn does on SIGTERM. Run() may return the moment the drain starts, so Shutdown()
// must not touch the server after that; the sanitizer builds (scripts/test.sh, --tsan) report it
// if it does.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "http/http_server.h"

namespace modelfn {
namespace {

// One request on a fresh connection: returns once the server has answered it (it is serving).
bool Served(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ok = ok && send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == ssize_t(sizeof req - 1);
  char buf[256];
  ok = ok && recv(fd, buf, sizeof buf, 0) > 0;
  close(fd);
  return ok;
}

TEST(HttpServerShutdownTest, OwnerMayDestroyTheServerOnceRunReturns) {
  // On one CPU the loop that Shutdown() wakes tends to run before Shutdown() itself goes on,
  // which is the interleaving that matters.
  cpu_set_t all, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &all)) {
      CPU_SET(c, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  for (int round = 0; round < 200; ++round) {
    HttpServerOptions opts;
    opts.host = "127.0.0.1";
    opts.port = 0;
    opts.workers = 1;
    auto server =
        HttpServer::Create(opts, [](const HttpRequest&, HttpResponse* resp) { resp->body = "{}"; });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    HttpServer* srv = server->get();
    int port = srv->port();
    std::thread stopper([srv, port] {
      EXPECT_TRUE(Served(port));
      srv->Shutdown();
    });
    srv->Run();
    server->reset();  // what the owner does next; the stopper may still be inside Shutdown()
    stopper.join();
  }
  sched_setaffinity(0, sizeof all, &all);
}

}  // namespace
}  // namespace modelfn
