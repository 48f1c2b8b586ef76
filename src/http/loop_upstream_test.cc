#include "http/loop_upstream.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace modelfn {
namespace {

struct Outcome {
  StatusOr<HttpReply> reply = StatusOr<HttpReply>(UnavailableError("no answer"));
  HttpFailure failure = HttpFailure::kNone;
};

// A gateway-like server running its loops on a thread, with a LoopUpstream on them.
class Gateway {
 public:
  explicit Gateway(int loops = 2, AsyncHttpHandler handler = nullptr) {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.workers = loops;
    o.drain_timeout_ms = 200;
    if (!handler) {
      handler = [](HttpRequest, HttpResponder respond) { respond(HttpResponse{}); };
    }
    server_ = HttpServer::CreateAsync(o, std::move(handler)).value();
    upstream_ = LoopUpstream::Create(server_.get()).value();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~Gateway() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    server_->Stop();
    server_->Shutdown();
    thread_.join();
  }
  HttpServer* server() { return server_.get(); }
  LoopUpstream* upstream() { return upstream_.get(); }

 private:
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<LoopUpstream> upstream_;
  std::thread thread_;
};

// A plain HTTP server standing for an instance, serving on its own thread.
class Peer {
 public:
  explicit Peer(HttpHandler handler) {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.drain_timeout_ms = 200;
    server_ = HttpServer::Create(o, std::move(handler)).value();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~Peer() {
    server_->Shutdown();
    thread_.join();
  }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

// A peer that misbehaves: each accepted connection is handed to `serve` (on the peer's thread),
// then closed.
class RawPeer {
 public:
  explicit RawPeer(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        serve_(c);
        close(c);
      }
    });
  }
  ~RawPeer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

  // Reads one request head and its Content-Length body.
  static std::string ReadRequest(int fd) {
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return in;
      in.append(buf, static_cast<size_t>(n));
    }
    size_t cl = in.find("Content-Length: ");
    size_t want =
        in.find("\r\n\r\n") + 4 + (cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16)));
    while (in.size() < want) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    return in;
  }
  static void Send(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

 private:
  std::function<void(int)> serve_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

UpstreamCall Post(int port, std::string body = "{}") {
  UpstreamCall c;
  c.port = port;
  c.target = "/v1/infer?x=1";
  c.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", "r1"}};
  c.body = std::move(body);
  c.stall_timeout_ms = 10'000;
  return c;
}

Outcome Call(Upstream* u, UpstreamCall call) {
  auto p = std::make_shared<std::promise<Outcome>>();
  auto f = p->get_future();
  u->Exchange(std::move(call), [p](StatusOr<HttpReply> r, HttpFailure failure) {
    p->set_value(Outcome{std::move(r), failure});
  });
  EXPECT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  return f.get();
}

template <typename Pred>
bool WaitFor(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(LoopUpstreamTest, ExchangesWithAPeerAndReusesTheConnection) {
  Gateway gw;
  std::atomic<int> seen{0};
  Peer peer([&](const HttpRequest& req, HttpResponse* resp) {
    ++seen;
    resp->status = 201;
    resp->headers.emplace_back("X-Echo", std::string(*req.Header("x-request-id")));
    resp->body = req.method + " " + req.path + "?" + req.query + " " + req.body;
  });
  for (int i = 0; i < 3; ++i) {
    Outcome o = Call(gw.upstream(), Post(peer.port(), "body" + std::to_string(i)));
    ASSERT_TRUE(o.reply.ok()) << o.reply.status().ToString();
    EXPECT_EQ(o.failure, HttpFailure::kNone);
    EXPECT_EQ(o.reply->status, 201);
    EXPECT_EQ(o.reply->HeaderOr("x-echo"), "r1");
    EXPECT_EQ(o.reply->body, "POST /v1/infer?x=1 body" + std::to_string(i));
  }
  EXPECT_EQ(seen.load(), 3);
  // One keep-alive connection per loop used at most (calls from outside go to the loops in turn).
  EXPECT_LE(gw.upstream()->OpenConnections(), 2u);
  EXPECT_GE(gw.upstream()->OpenConnections(), 1u);
}

TEST(LoopUpstreamTest, ACallFromALoopThreadRunsOnThatLoopAndAnswersAfterReturning) {
  Peer peer([](const HttpRequest& req, HttpResponse* resp) { resp->body = "got " + req.body; });
  std::atomic<int> loop_seen{-2};
  std::atomic<bool> early{false};
  Gateway* self = nullptr;
  Gateway gw(2, [&](HttpRequest req, HttpResponder respond) {
    loop_seen = self->server()->CurrentLoop();
    auto returned = std::make_shared<std::atomic<bool>>(false);
    self->upstream()->Exchange(Post(peer.port(), req.body),
                               [respond, returned, &early](StatusOr<HttpReply> r, HttpFailure) {
                                 if (!*returned) early = true;
                                 HttpResponse out;
                                 out.status = r.ok() ? r->status : 599;
                                 out.body = r.ok() ? r->body : r.status().message();
                                 respond(std::move(out));
                               });
    *returned = true;
  });
  self = &gw;
  // A client of the gateway, through a plain blocking client.
  auto client = MakePlainHttpClient();
  HttpCall c;
  c.method = "POST";
  c.url = "http://127.0.0.1:" + std::to_string(gw.server()->port()) + "/x";
  c.body = "hello";
  auto r = client->Send(c);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "got hello");
  EXPECT_GE(loop_seen.load(), 0);
  EXPECT_FALSE(early.load());
  EXPECT_EQ(gw.server()->CurrentLoop(), -1);  // this thread runs no loop
}

TEST(LoopUpstreamTest, ARefusedConnectIsKConnect) {
  Gateway gw;
  int port;
  {
    RawPeer gone([](int) {});
    port = gone.port();
  }
  Outcome o = Call(gw.upstream(), Post(port));
  ASSERT_FALSE(o.reply.ok());
  EXPECT_EQ(o.failure, HttpFailure::kConnect);
  EXPECT_EQ(o.reply.status().code(), StatusCode::kUnavailable);
}

TEST(LoopUpstreamTest, APeerThatClosesMidBodyIsKExchange) {
  Gateway gw;
  RawPeer peer([](int fd) {
    RawPeer::ReadRequest(fd);
    RawPeer::Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..");
  });
  Outcome o = Call(gw.upstream(), Post(peer.port()));
  ASSERT_FALSE(o.reply.ok());
  EXPECT_EQ(o.failure, HttpFailure::kExchange);
  EXPECT_NE(o.reply.status().message().find("closed before the answer ended"), std::string::npos);
}

TEST(LoopUpstreamTest, GarbageIsAMalformedAnswer) {
  Gateway gw;
  RawPeer peer([](int fd) {
    RawPeer::ReadRequest(fd);
    RawPeer::Send(fd, "SMTP ready\r\n\r\n");
  });
  Outcome o = Call(gw.upstream(), Post(peer.port()));
  ASSERT_FALSE(o.reply.ok());
  EXPECT_EQ(o.failure, HttpFailure::kExchange);
  EXPECT_NE(o.reply.status().message().find("malformed"), std::string::npos);
}

TEST(LoopUpstreamTest, AStalledPeerTimesOut) {
  Gateway gw;
  std::promise<void> release;
  auto released = release.get_future().share();
  RawPeer peer([released](int fd) {
    RawPeer::ReadRequest(fd);
    released.wait();  // says nothing until the test ends
  });
  UpstreamCall call = Post(peer.port());
  call.stall_timeout_ms = 300;
  Outcome o = Call(gw.upstream(), std::move(call));
  release.set_value();
  ASSERT_FALSE(o.reply.ok());
  EXPECT_EQ(o.failure, HttpFailure::kExchange);
  EXPECT_EQ(o.reply.status().code(), StatusCode::kDeadlineExceeded);
}

TEST(LoopUpstreamTest, ATooLargeAnswerIsRefused) {
  Gateway gw;
  RawPeer peer([](int fd) {
    RawPeer::ReadRequest(fd);
    std::string body(1 << 20, 'x');
    RawPeer::Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body);
  });
  UpstreamCall call = Post(peer.port());
  call.max_response_bytes = 64 << 10;
  Outcome o = Call(gw.upstream(), std::move(call));
  ASSERT_FALSE(o.reply.ok());
  EXPECT_EQ(o.reply.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(o.reply.status().reason(), "response_too_large");
}

TEST(LoopUpstreamTest, ChunkedAndCloseDelimitedBodies) {
  Gateway gw;
  RawPeer chunked([](int fd) {
    RawPeer::ReadRequest(fd);
    RawPeer::Send(fd,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
                  "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  });
  Outcome a = Call(gw.upstream(), Post(chunked.port()));
  ASSERT_TRUE(a.reply.ok()) << a.reply.status().ToString();
  EXPECT_EQ(a.reply->body, "hello world");
  EXPECT_EQ(a.reply->HeaderOr("content-type"), "text/plain");

  RawPeer until_close([](int fd) {
    RawPeer::ReadRequest(fd);
    RawPeer::Send(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end");
  });
  Outcome b = Call(gw.upstream(), Post(until_close.port()));
  ASSERT_TRUE(b.reply.ok()) << b.reply.status().ToString();
  EXPECT_EQ(b.reply->body, "to the end");
}

TEST(LoopUpstreamTest, AnIdleConnectionThePeerClosedIsDroppedBeforeReuse) {
  Gateway gw(1);
  std::atomic<int> conns{0};
  RawPeer peer([&](int fd) {
    ++conns;
    RawPeer::ReadRequest(fd);
    RawPeer::Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    // Keep-alive was offered; the peer closes anyway (as an instance that drains would).
  });
  Outcome a = Call(gw.upstream(), Post(peer.port()));
  ASSERT_TRUE(a.reply.ok());
  ASSERT_TRUE(WaitFor([&] { return gw.upstream()->OpenConnections() == 0; }))
      << "the closed idle connection was kept";
  Outcome b = Call(gw.upstream(), Post(peer.port()));
  ASSERT_TRUE(b.reply.ok()) << b.reply.status().ToString();
  EXPECT_EQ(b.reply->body, "ok");
  EXPECT_EQ(conns.load(), 2);
}

TEST(LoopUpstreamTest, ManyConcurrentCallsFromManyThreads) {
  Gateway gw(2);
  Peer peer([](const HttpRequest& req, HttpResponse* resp) { resp->body = req.body; });
  constexpr int kThreads = 8, kEach = 50;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string body = std::to_string(t) + ":" + std::to_string(i);
        Outcome o = Call(gw.upstream(), Post(peer.port(), body));
        if (o.reply.ok() && o.reply->body == body) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kThreads * kEach);
}

TEST(LoopUpstreamTest, AfterTheLoopsStoppedACallFailsOffTheCallersStack) {
  Gateway gw(1);
  Peer peer([](const HttpRequest&, HttpResponse* resp) { resp->body = "x"; });
  ASSERT_TRUE(Call(gw.upstream(), Post(peer.port())).reply.ok());
  gw.Stop();
  std::thread::id caller = std::this_thread::get_id();
  auto p = std::make_shared<std::promise<std::pair<Outcome, std::thread::id>>>();
  auto f = p->get_future();
  gw.upstream()->Exchange(Post(peer.port()), [p](StatusOr<HttpReply> r, HttpFailure failure) {
    p->set_value({Outcome{std::move(r), failure}, std::this_thread::get_id()});
  });
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto [o, on] = f.get();
  EXPECT_FALSE(o.reply.ok());
  EXPECT_EQ(o.failure, HttpFailure::kConnect);
  EXPECT_NE(on, caller);
}

// Calls from many threads to a well-behaved peer and to one that answers, breaks connections
// before or in the middle of an answer, or closes after it, while the loops are stopped midway:
// every call gets exactly one callback, and every answer that came whole is the right one.
TEST(LoopUpstreamTest, StressCallsRaceWithBrokenPeersAndWithStop) {
  auto gw = std::make_unique<Gateway>(2);
  Peer good([](const HttpRequest& req, HttpResponse* resp) { resp->body = req.body; });
  std::atomic<uint32_t> turn{0};
  RawPeer flaky([&](int fd) {
    // One connection at a time: a kept-alive one the gateway leaves idle is closed soon.
    timeval patience{0, 5'000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    for (int k = 0; k < 4; ++k) {  // up to four requests on one connection
      std::string req = RawPeer::ReadRequest(fd);
      if (req.empty()) return;
      std::string body = req.substr(req.find("\r\n\r\n") + 4);
      std::string whole =
          "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      switch (turn.fetch_add(1) % 4) {
        case 0:
          RawPeer::Send(fd, whole);  // kept alive
          break;
        case 1:
          return;  // closed before any answer
        case 2:
          RawPeer::Send(fd, whole.substr(0, whole.size() / 2));
          return;  // closed in the middle of it
        default:
          RawPeer::Send(fd, whole);
          return;  // closed right after it
      }
    }
  });
  constexpr int kThreads = 6, kEach = 120;
  std::atomic<int> callbacks{0}, twice{0}, wrong{0}, answered{0}, broken{0};
  std::atomic<bool> go_on{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // The second half races with Stop.
        if (i == kEach / 2) WaitFor([&] { return go_on.load(); });
        std::string body = std::to_string(t) + ":" + std::to_string(i);
        auto count = std::make_shared<std::atomic<int>>(0);
        gw->upstream()->Exchange(Post(i % 4 == 1 ? flaky.port() : good.port(), body),
                                 [&, count, body](StatusOr<HttpReply> r, HttpFailure failure) {
                                   if (count->fetch_add(1) != 0) ++twice;
                                   if (r.ok() && r->body != body) ++wrong;
                                   if (r.ok()) ++answered;
                                   if (failure == HttpFailure::kExchange) ++broken;
                                   ++callbacks;
                                 });
      }
    });
  }
  // The first halves answered by the good peer or broken by the flaky one; then the loops stop
  // under the second halves (calls in flight fail; later ones fail off the callers' stacks).
  EXPECT_TRUE(WaitFor([&] { return callbacks.load() >= kThreads * kEach / 2; }));
  EXPECT_GT(answered.load(), 0);
  EXPECT_GT(broken.load(), 0);
  go_on = true;
  gw->Stop();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(WaitFor([&] { return callbacks.load() == kThreads * kEach; }))
      << callbacks.load() << " callbacks for " << kThreads * kEach << " calls";
  EXPECT_EQ(twice.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  gw.reset();  // fails what is still pending: nothing may be
  EXPECT_EQ(callbacks.load(), kThreads * kEach);
}

}  // namespace
}  // namespace modelfn
