// Stress tests of LoopUpstream for ThreadSanitizer (scripts/test.sh --tsan): calls from many
// threads racing the loops' stop, a peer whose port closes or resets mid-answer, and idle
// connections expiring while calls reuse them. Each asserts that every call gets exactly one
// callback and that the answers that arrive are the right ones.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/loop_upstream.h"

namespace modelfn {
namespace {

// A gateway-like server running its loops on a thread, with a LoopUpstream on them.
class Gateway {
 public:
  explicit Gateway(int loops, LoopUpstreamOptions options = {}) {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.workers = loops;
    o.drain_timeout_ms = 200;
    server_ = HttpServer::CreateAsync(o, [](HttpRequest, HttpResponder respond) {
                respond(HttpResponse{});
              }).value();
    upstream_ = LoopUpstream::Create(server_.get(), options).value();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~Gateway() { Stop(); }
  // Returns once the loops have exited.
  void Stop() {
    if (!thread_.joinable()) return;
    server_->Stop();
    server_->Shutdown();
    thread_.join();
  }
  LoopUpstream* upstream() { return upstream_.get(); }

 private:
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<LoopUpstream> upstream_;
  std::thread thread_;
};

// An http-mode instance stand-in: echoes the body, on its own thread.
class EchoPeer {
 public:
  EchoPeer() {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.drain_timeout_ms = 200;
    server_ = HttpServer::Create(o, [](const HttpRequest& req, HttpResponse* resp) {
                resp->body = req.body;
              }).value();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~EchoPeer() { Close(); }
  // Closes its port and every connection: later connects are refused.
  void Close() {
    if (!thread_.joinable()) return;
    server_->Shutdown();
    thread_.join();
  }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

// Counts every call's callbacks: each must come exactly once.
class Ledger {
 public:
  // Starts a call whose body is `body`; the callback checks an answer against it.
  void Call(Upstream* u, int port, const std::string& body) {
    size_t slot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot = calls_.size();
      calls_.push_back(0);
    }
    UpstreamCall c;
    c.port = port;
    c.target = "/v1/infer";
    c.headers = {{"Content-Type", "application/json"}};
    c.body = body;
    c.stall_timeout_ms = 10'000;
    u->Exchange(std::move(c), [this, slot, body](StatusOr<HttpReply> r, HttpFailure failure) {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_[slot];
      if (r.ok()) {
        ++answered_;
        if (r->body != body) ++wrong_;
      } else if (failure == HttpFailure::kConnect) {
        ++refused_;
      } else {
        ++broken_;
      }
      done_.notify_all();
    });
  }

  // Waits until every call started so far has had its callback; false after 60 s.
  bool WaitAll() {
    std::unique_lock<std::mutex> lock(mu_);
    return done_.wait_for(lock, std::chrono::seconds(60),
                          [this] { return answered_ + refused_ + broken_ >= calls_.size(); });
  }

  // Waits until `n` calls have been answered; false after 60 s.
  bool WaitAnswered(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return done_.wait_for(lock, std::chrono::seconds(60), [&] { return answered_ >= n; });
  }

  // Calls whose callback came other than once.
  size_t NotOnce() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (int c : calls_) n += c != 1;
    return n;
  }

  size_t answered() {
    std::lock_guard<std::mutex> lock(mu_);
    return answered_;
  }
  size_t refused() {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }
  size_t wrong() {
    std::lock_guard<std::mutex> lock(mu_);
    return wrong_;
  }

 private:
  std::mutex mu_;
  std::condition_variable done_;
  std::vector<int> calls_;  // callbacks per call
  size_t answered_ = 0, refused_ = 0, broken_ = 0, wrong_ = 0;
};

// Runs call(t, i) for i in [0, each) on each of `threads` threads t at once.
void FromThreads(int threads, int each, const std::function<void(int t, int i)>& call) {
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) call(t, i);
    });
  }
  for (auto& t : ts) t.join();
}

TEST(LoopUpstreamStressTest, CallsRacingTheLoopsStopEachGetOneCallback) {
  EchoPeer peer;
  auto gw = std::make_unique<Gateway>(2);
  Ledger ledger;
  std::atomic<bool> stopped{false};
  std::atomic<int> after_stop{0};
  std::thread stopper;
  FromThreads(6, 150, [&](int t, int i) {
    // Midway, once answers flow: the stop races the calls in flight and those still coming.
    if (t == 0 && i == 50) {
      EXPECT_TRUE(ledger.WaitAnswered(10));
      stopper = std::thread([&] {
        gw->Stop();
        stopped = true;
      });
    }
    bool late = stopped.load();
    ledger.Call(gw->upstream(), peer.port(), std::to_string(t) + ":" + std::to_string(i));
    if (late) ++after_stop;
  });
  stopper.join();
  // Calls after the stop fail on a thread of their own: all of them are in before the upstream
  // goes.
  ASSERT_TRUE(ledger.WaitAll());
  gw.reset();
  EXPECT_EQ(ledger.NotOnce(), 0u);
  EXPECT_EQ(ledger.wrong(), 0u);
  EXPECT_GT(ledger.answered(), 0u);
  // Every call made once the loops had exited was refused (and so were some in flight).
  EXPECT_GE(ledger.refused(), static_cast<size_t>(after_stop.load()));
}

TEST(LoopUpstreamStressTest, APeerWhosePortClosesMidwayLeavesNoCallUnanswered) {
  Gateway gw(2);
  auto peer = std::make_unique<EchoPeer>();
  int port = peer->port();
  Ledger ledger;
  std::thread closer;
  FromThreads(6, 150, [&](int t, int i) {
    if (t == 0 && i == 50) {
      EXPECT_TRUE(ledger.WaitAnswered(10));
      closer = std::thread([&] { peer->Close(); });
    }
    ledger.Call(gw.upstream(), port, std::to_string(t) + ":" + std::to_string(i));
  });
  closer.join();
  ASSERT_TRUE(ledger.WaitAll());
  EXPECT_EQ(ledger.NotOnce(), 0u);
  EXPECT_EQ(ledger.wrong(), 0u);
  EXPECT_GT(ledger.answered(), 0u);
  // The port is closed for good now: a call is refused.
  Ledger after;
  after.Call(gw.upstream(), port, "late");
  ASSERT_TRUE(after.WaitAll());
  EXPECT_EQ(after.refused(), 1u);
}

// A peer that answers some requests, and resets (RST) or half-answers the others.
class FlakyPeer {
 public:
  FlakyPeer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    // Room for every call's connection at once: a full queue would drop SYNs, and their
    // retransmits (1 s, then 3 s, ...) would only slow the test down.
    listen(fd_, 1024);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 3; ++i) threads_.emplace_back([this] { Serve(); });
  }
  ~FlakyPeer() {
    shutdown(fd_, SHUT_RDWR);
    for (auto& t : threads_) t.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  void Serve() {
    while (true) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      // Never blocks for good on a connection its client left open: the destructor joins us.
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      int n = served_.fetch_add(1);
      std::string in;
      char buf[4096];
      while (in.find("\r\n\r\n") == std::string::npos) {
        ssize_t got = recv(c, buf, sizeof buf, 0);
        if (got <= 0) break;
        in.append(buf, static_cast<size_t>(got));
      }
      std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n";
      if (n % 3 == 0) {
        linger l{1, 0};  // close with RST
        setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      } else if (n % 3 == 1) {
        reply += "half";  // 4 of the 10 bytes, then closed
        send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      } else {
        reply += "0123456789";
        send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
      close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> served_{0};
  std::vector<std::thread> threads_;
};

TEST(LoopUpstreamStressTest, ResetsAndHalfAnswersEachGetOneCallback) {
  // Declared in this order so that they go in the reverse one: the gateway first (any call still
  // pending fails, its callback finding these counters alive, and its connections close), then
  // the peer (whose threads then see every connection closed).
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0, callbacks = 0, twice = 0, ok = 0, bad_ok = 0;
  FlakyPeer peer;
  Gateway gw(2);
  constexpr int kThreads = 4, kEach = 100;
  FromThreads(kThreads, kEach, [&](int, int) {
    auto seen = std::make_shared<std::atomic<int>>(0);
    {
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
    }
    UpstreamCall c;
    c.port = peer.port();
    c.target = "/";
    c.stall_timeout_ms = 10'000;
    gw.upstream()->Exchange(std::move(c), [&, seen](StatusOr<HttpReply> r, HttpFailure) {
      std::lock_guard<std::mutex> lock(mu);
      if (seen->fetch_add(1) > 0) ++twice;
      ++callbacks;
      if (r.ok()) {
        ++ok;
        if (r->body != "0123456789") ++bad_ok;
      }
      cv.notify_all();
    });
  });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return callbacks >= calls; }))
      << callbacks << " callbacks for " << calls << " calls";
  EXPECT_EQ(callbacks, kThreads * kEach);
  EXPECT_EQ(twice, 0);
  EXPECT_GT(ok, 0);
  EXPECT_EQ(bad_ok, 0);  // a half answer is never taken for a whole one
}

TEST(LoopUpstreamStressTest, IdleConnectionsExpiringWhileCallsReuseThem) {
  // Every idle connection is closed at each of the loops' sweeps (once a second): calls from
  // other threads keep arriving meanwhile, some finding a connection the sweep is about to drop.
  LoopUpstreamOptions options;
  options.idle_timeout_ms = 0;
  options.max_idle_per_port = 2;
  Gateway gw(2, options);
  EchoPeer peer;
  Ledger ledger;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(2'500);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
        ledger.Call(gw.upstream(), peer.port(), std::to_string(t) + ":" + std::to_string(i));
        if (i % 8 == 7) {
          ASSERT_TRUE(ledger.WaitAll());  // lets connections go idle
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE(ledger.WaitAll());
  EXPECT_EQ(ledger.NotOnce(), 0u);
  EXPECT_EQ(ledger.wrong(), 0u);
  // The peer never went away: every call was answered.
  EXPECT_EQ(ledger.refused(), 0u);
  EXPECT_GT(ledger.answered(), 0u);
  // Once idle past a sweep, nothing is left open.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (gw.upstream()->OpenConnections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(gw.upstream()->OpenConnections(), 0u);
}

}  // namespace
}  // namespace modelfn
