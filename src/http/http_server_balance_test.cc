// HttpServer's loops share the client connections: a burst of connects, which the kernel hands to
// whichever loop wakes first, is spread over the loops; a drain with connections on every loop
// still ends; connections closed and opened again keep the loops even.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/http_server.h"
#include "http/test_sockets.h"

namespace modelfn {
namespace {

int Connect(int port) {
  int fd = testing_sockets::ConnectLoopback(port);
  EXPECT_GE(fd, 0) << "connection refused";
  return fd;
}

// One request on `fd`; returns the whole answer (the server keeps the connection open).
std::string Ask(int fd) {
  std::string req = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[1024];
  while (got.find("\r\n\r\n") == std::string::npos || got.find("loop") == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// A server whose handler (run inline on the loop that holds the connection) records that loop's
// thread for each request.
class CountingServer {
 public:
  explicit CountingServer(int workers) {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.workers = workers;
    auto s = HttpServer::Create(o, [this](const HttpRequest&, HttpResponse* resp) {
      std::lock_guard<std::mutex> lock(mu_);
      ++served_by_[std::this_thread::get_id()];
      resp->content_type = "text/plain";
      resp->body = "loop";
    });
    EXPECT_TRUE(s.ok());
    server_ = std::move(s).value();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~CountingServer() {
    server_->Shutdown();
    thread_.join();
  }
  int port() const { return server_->port(); }
  std::map<std::thread::id, int> TakeCounts() {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::thread::id, int> out;
    out.swap(served_by_);
    return out;
  }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::thread::id, int> served_by_;
};

// Connects `n` sockets before sending anything (the kernel queues them all for one wakeup), then
// asks once on each; returns the sockets, still open.
std::vector<int> BurstAndAsk(int port, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) fds.push_back(Connect(port));
  for (int fd : fds) EXPECT_NE(Ask(fd).find("200 OK"), std::string::npos);
  return fds;
}

void ExpectEven(const std::map<std::thread::id, int>& counts, int loops, int per_loop) {
  ASSERT_EQ(static_cast<int>(counts.size()), loops) << "connections landed on fewer loops";
  for (const auto& [thread, n] : counts) {
    // Exact unless two loops accept at the same moment from stale counts: then off by one.
    EXPECT_GE(n, per_loop - 1);
    EXPECT_LE(n, per_loop + 1);
  }
}

TEST(HttpServerBalance, ABurstOfConnectsIsSpreadOverTheLoops) {
  CountingServer server(3);
  std::vector<int> fds = BurstAndAsk(server.port(), 12);
  ExpectEven(server.TakeCounts(), 3, 4);
  for (int fd : fds) close(fd);
}

TEST(HttpServerBalance, ClosedConnectionsFreeTheirLoopsShare) {
  CountingServer server(2);
  std::vector<int> first = BurstAndAsk(server.port(), 8);
  ExpectEven(server.TakeCounts(), 2, 4);
  // The first four (on whichever loops) close; the server sees it by the time their next
  // request fails, so wait for EOF on each.
  for (int i = 0; i < 4; ++i) {
    shutdown(first[static_cast<size_t>(i)], SHUT_WR);
    char c;
    EXPECT_EQ(recv(first[static_cast<size_t>(i)], &c, 1, 0), 0);
    close(first[static_cast<size_t>(i)]);
  }
  // Eight more: with 4 left open, the loops end at 6 each whatever the split of the four was.
  std::vector<int> second = BurstAndAsk(server.port(), 8);
  server.TakeCounts();
  for (size_t i = 4; i < first.size(); ++i)
    EXPECT_NE(Ask(first[i]).find("200 OK"), std::string::npos);
  for (int fd : second) EXPECT_NE(Ask(fd).find("200 OK"), std::string::npos);
  ExpectEven(server.TakeCounts(), 2, 6);
  for (size_t i = 4; i < first.size(); ++i) close(first[i]);
  for (int fd : second) close(fd);
}

TEST(HttpServerBalance, ShutdownWithConnectionsOnEveryLoopEnds) {
  auto server = std::make_unique<CountingServer>(4);
  std::vector<int> fds = BurstAndAsk(server->port(), 16);
  ExpectEven(server->TakeCounts(), 4, 4);
  server.reset();  // Shutdown + join: idle connections close on every loop
  for (int fd : fds) {
    char c;
    EXPECT_EQ(recv(fd, &c, 1, 0), 0);
    close(fd);
  }
}

}  // namespace
}  // namespace modelfn
