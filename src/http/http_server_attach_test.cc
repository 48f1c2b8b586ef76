// HttpServer::Attach / Detach: listeners with their own handler on the server's loops, added and
// removed before Run, while it runs (with a request held), and while requests flow.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/http_server.h"
#include "http/test_sockets.h"

namespace modelfn {
namespace {

int Connect(int port) { return testing_sockets::ConnectLoopback(port); }

// One request on a new connection; the whole answer (the server closes: Connection: close), or
// "" when the connection is refused or closed without one.
std::string Get(int port, const std::string& path) {
  int fd = Connect(port);
  if (fd < 0) return "(refused)";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  if (n < 0 && out.empty()) out = "(error " + std::to_string(errno) + ")";
  close(fd);
  return out;
}

AsyncHttpHandler Echo(const std::string& tag) {
  return [tag](HttpRequest req, HttpResponder respond) {
    HttpResponse r;
    r.body = tag + " " + req.path;
    respond(std::move(r));
  };
}

std::unique_ptr<HttpServer> MakeServer(int workers) {
  HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.workers = workers;
  o.drain_timeout_ms = 2000;
  auto s = HttpServer::CreateAsync(o, Echo("client"));
  EXPECT_TRUE(s.ok());
  return std::move(s).value();
}

TEST(HttpServerAttach, BeforeRunIsServedOnceTheLoopsRun) {
  auto server = MakeServer(2);
  auto a = server->Attach(AttachOptions(), Echo("api"));
  ASSERT_TRUE(a.ok());
  EXPECT_NE(a->port, server->port());
  std::thread t([&] { server->Run(); });
  EXPECT_NE(Get(a->port, "/next").find("api /next"), std::string::npos);
  EXPECT_NE(Get(server->port(), "/x").find("client /x"), std::string::npos);
  server->Detach(a->id);
  EXPECT_EQ(Get(a->port, "/next"), "(refused)");
  server->Shutdown();
  t.join();
}

TEST(HttpServerAttach, DetachBeforeRunClosesTheListener) {
  auto server = MakeServer(1);
  auto a = server->Attach(AttachOptions(), Echo("api"));
  ASSERT_TRUE(a.ok());
  server->Detach(a->id);
  EXPECT_EQ(Connect(a->port), -1);
  server->Detach(a->id);  // unknown now: ignored
}

TEST(HttpServerAttach, DetachWithARequestHeldClosesItsConnection) {
  auto server = MakeServer(2);
  std::thread t([&] { server->Run(); });
  std::mutex mu;
  std::vector<HttpResponder> held;
  std::atomic<int> arrived{0};
  auto a = server->Attach(AttachOptions(), [&](HttpRequest, HttpResponder respond) {
    std::lock_guard<std::mutex> lock(mu);
    held.push_back(std::move(respond));
    arrived.fetch_add(1);
  });
  ASSERT_TRUE(a.ok());
  int fd = Connect(a->port);
  ASSERT_GE(fd, 0);
  std::string req = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  for (int i = 0; i < 5000 && arrived.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(arrived.load(), 1);
  server->Detach(a->id);  // returns once the loops closed the held connection
  char buf[64];
  EXPECT_EQ(recv(fd, buf, sizeof buf, 0), 0);  // EOF, no answer
  close(fd);
  {
    std::lock_guard<std::mutex> lock(mu);
    held[0](HttpResponse());  // a late answer is dropped
  }
  EXPECT_NE(Get(server->port(), "/still").find("client /still"), std::string::npos);
  server->Shutdown();
  t.join();
}

TEST(HttpServerAttach, DetachWithoutWaitingClosesTheListenerOnTheLoopsNextTurn) {
  auto server = MakeServer(2);
  std::thread t([&] { server->Run(); });
  auto a = server->Attach(AttachOptions(), Echo("api"));
  ASSERT_TRUE(a.ok());
  EXPECT_NE(Get(a->port, "/next").find("api /next"), std::string::npos);
  server->Detach(a->id, /*wait=*/false);
  std::string got;
  for (int i = 0; i < 5000 && (got = Get(a->port, "/next")) != "(refused)"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(got, "(refused)");
  server->Shutdown();
  t.join();  // nothing attached: Run returns after the client drain
}

TEST(HttpServerAttach, AttachedListenersOutliveTheClientDrainUntilDetached) {
  auto server = MakeServer(2);
  std::thread t([&] { server->Run(); });
  auto a = server->Attach(AttachOptions(), Echo("api"));
  ASSERT_TRUE(a.ok());
  server->Shutdown();
  for (int i = 0; i < 5000 && !server->ClientsDrained(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(server->ClientsDrained());
  EXPECT_EQ(Get(server->port(), "/x"), "(refused)");                      // clients: refused
  EXPECT_NE(Get(a->port, "/next").find("api /next"), std::string::npos);  // still served
  server->Detach(a->id);
  t.join();  // Run returns: drained and nothing attached
}

TEST(HttpServerAttach, StopEndsRunWithListenersStillAttached) {
  auto server = MakeServer(2);
  auto a = server->Attach(AttachOptions(), Echo("api"));
  ASSERT_TRUE(a.ok());
  std::thread t([&] { server->Run(); });
  EXPECT_NE(Get(a->port, "/next").find("api /next"), std::string::npos);
  server->Stop();
  t.join();
  server->Detach(a->id);  // the loops are gone: done directly
}

// Attaches and detaches from several threads while requests flow through the client listener and
// the attached ones; run under ThreadSanitizer by `scripts/test.sh --tsan`.
TEST(HttpServerAttach, StressAttachDetachWhileRequestsFlow) {
  auto server = MakeServer(2);
  std::thread t([&] { server->Run(); });
  std::atomic<bool> stop{false};
  std::atomic<int> client_ok{0};
  std::thread clients([&] {
    while (!stop.load()) {
      if (Get(server->port(), "/c").find("client /c") != std::string::npos) client_ok.fetch_add(1);
    }
  });
  std::atomic<int> api_ok{0};
  std::vector<std::thread> churn;
  for (int w = 0; w < 3; ++w) {
    churn.emplace_back([&] {
      for (int i = 0; i < 40; ++i) {
        auto a = server->Attach(AttachOptions(), Echo("api"));
        ASSERT_TRUE(a.ok());
        std::string got = Get(a->port, "/n");
        if (got.find("api /n") != std::string::npos) {
          api_ok.fetch_add(1);
        } else {
          ADD_FAILURE() << "attached listener on port " << a->port << " answered: " << got;
        }
        server->Detach(a->id);
      }
    });
  }
  for (auto& c : churn) c.join();
  stop.store(true);
  clients.join();
  EXPECT_EQ(api_ok.load(), 120);  // every attached listener answered while it was attached
  EXPECT_GT(client_ok.load(), 0);
  server->Shutdown();
  t.join();
}

}  // namespace
}  // namespace modelfn
