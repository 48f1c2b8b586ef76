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

#include <condition_variable>
#include <mutex>
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

// A request still held when the drain deadline passes gets a typed 503 "shutting_down", not a
// silent close; the handler's answer after that is dropped, and Run() returns.
TEST(HttpServerShutdownTest, RequestHeldPastTheDrainDeadlineIsAnswered503) {
  HttpServerOptions opts;
  opts.host = "127.0.0.1";
  opts.port = 0;
  opts.workers = 1;
  opts.drain_timeout_ms = 200;
  std::mutex mu;
  std::condition_variable cv;
  HttpResponder held;
  auto server = HttpServer::CreateAsync(opts, [&](HttpRequest, HttpResponder respond) {
    std::lock_guard<std::mutex> lock(mu);
    held = std::move(respond);  // never answered before the deadline
    cv.notify_all();
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpServer* srv = server->get();
  std::thread loop([srv] { srv->Run(); });

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(srv->port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const char req[] = "POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
  ASSERT_EQ(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), ssize_t(sizeof req - 1));
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return static_cast<bool>(held); });
  }
  srv->Shutdown();
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
  close(fd);
  loop.join();
  EXPECT_EQ(got.rfind("HTTP/1.1 503 ", 0), 0u) << got;
  EXPECT_NE(got.find("application/problem+json"), std::string::npos) << got;
  EXPECT_NE(got.find("\"code\":\"shutting_down\""), std::string::npos) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  HttpResponse late;
  late.status = 200;
  held(late);  // after the deadline: dropped, nothing to write to
}

}  // namespace
}  // namespace modelfn
