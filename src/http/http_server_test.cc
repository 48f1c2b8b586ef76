#include "http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <any>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "http/test_sockets.h"

namespace modelfn {
namespace {

class TestServer {
 public:
  explicit TestServer(HttpServerOptions opts = HttpServerOptions(), HeadHandler head = nullptr,
                      ErrorHook error_hook = nullptr) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    opts.workers = 2;
    auto s = HttpServer::Create(opts, [this](const HttpRequest& req, HttpResponse* resp) {
      handled_.fetch_add(1);
      resp->content_type = "text/plain";
      resp->body = req.method + " " + req.path + " " + req.body;
      if (const auto* ctx = std::any_cast<std::string>(&req.context)) resp->body += " ctx=" + *ctx;
    });
    EXPECT_TRUE(s.ok());
    server_ = std::move(s).value();
    if (head) server_->SetHeadHandler(std::move(head));
    if (error_hook) server_->SetErrorHook(std::move(error_hook));
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~TestServer() {
    server_->Shutdown();
    thread_.join();
  }
  int port() const { return server_->port(); }
  HttpServer& server() { return *server_; }
  int handled() const { return handled_.load(); }

 private:
  std::atomic<int> handled_{0};
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

// Waits (up to 5 s) until `counter` reaches `n`: a readiness wait on the server's own events.
bool WaitFor(const std::atomic<uint64_t>& counter, uint64_t n) {
  for (int i = 0; i < 5000 && counter.load() < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return counter.load() >= n;
}

int Connect(int port) {
  int fd = testing_sockets::ConnectLoopback(port);
  EXPECT_GE(fd, 0) << "connection refused";
  return fd;
}

void Send(int fd, const std::string& s) {
  ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Reads until `count` complete responses (by Content-Length) or EOF.
std::string ReadResponses(int fd, int count) {
  std::string buf;
  int done = 0;
  size_t pos = 0;
  char tmp[4096];
  while (done < count) {
    size_t he = buf.find("\r\n\r\n", pos);
    if (he != std::string::npos) {
      size_t cl = buf.find("Content-Length: ", pos);
      size_t len = cl != std::string::npos && cl < he ? std::stoul(buf.substr(cl + 16)) : 0;
      if (buf.size() >= he + 4 + len) {
        pos = he + 4 + len;
        ++done;
        continue;
      }
    }
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
  }
  return buf;
}

bool PeerClosed(int fd) {
  char c;
  return recv(fd, &c, 1, 0) == 0;
}

int CountOf(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

TEST(HttpServerTest, KeepAliveAndPipelining) {
  TestServer s;
  int fd = Connect(s.port());
  Send(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r1 = ReadResponses(fd, 1);
  EXPECT_NE(r1.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(r1.find("Connection: keep-alive"), std::string::npos);
  EXPECT_NE(r1.find("GET /a "), std::string::npos);
  Send(fd, "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\n\r\n");
  std::string r2 = ReadResponses(fd, 2);
  EXPECT_EQ(CountOf(r2, "HTTP/1.1 200 OK"), 2);
  EXPECT_LT(r2.find("POST /b hi"), r2.find("GET /c "));
  close(fd);
}

// The policy each loop's thread runs under, as its handler sees it, over two connections (which
// the server hands to its two loops).
std::vector<int> LoopPolicies(bool yield_to_work) {
  HttpServerOptions opts;
  opts.host = "127.0.0.1";
  opts.port = 0;
  opts.workers = 2;
  opts.loops_yield_to_work = yield_to_work;
  auto s = HttpServer::Create(opts, [](const HttpRequest&, HttpResponse* resp) {
    resp->content_type = "text/plain";
    resp->body = "policy=" + std::to_string(sched_getscheduler(0)) + ";";
  });
  EXPECT_TRUE(s.ok());
  std::unique_ptr<HttpServer> server = std::move(s).value();
  std::thread t([&] { server->Run(); });
  std::vector<int> policies;
  int a = Connect(server->port());
  int b = Connect(server->port());
  for (int fd : {a, b}) {
    Send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = ReadResponses(fd, 1);
    size_t at = r.find("policy=");
    EXPECT_NE(at, std::string::npos) << r;
    if (at != std::string::npos) policies.push_back(std::stoi(r.substr(at + 7)));
  }
  close(a);
  close(b);
  server->Shutdown();
  t.join();
  return policies;
}

TEST(HttpServerTest, LoopsYieldToWorkRunAsBatchThreadsAndOnlyWhenAsked) {
  EXPECT_EQ(LoopPolicies(false), (std::vector<int>{SCHED_OTHER, SCHED_OTHER}));
  EXPECT_EQ(LoopPolicies(true), (std::vector<int>{SCHED_BATCH, SCHED_BATCH}));
}

TEST(HttpServerTest, ExpectContinueThenBody) {
  TestServer s;
  int fd = Connect(s.port());
  Send(fd, "POST /e HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  char buf[64] = {};
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "HTTP/1.1 100 Continue\r\n\r\n");
  Send(fd, "abc");
  EXPECT_NE(ReadResponses(fd, 1).find("POST /e abc"), std::string::npos);
  close(fd);
}

TEST(HttpServerTest, OversizedBodyGets413AndACleanClose) {
  HttpServerOptions o;
  o.limits.max_body_bytes = 1000;
  TestServer s(o);
  int fd = Connect(s.port());
  std::string body(5000, 'x');
  Send(fd, "POST /big HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + body);
  std::string r = ReadResponses(fd, 1);
  EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
  EXPECT_NE(r.find("application/problem+json"), std::string::npos);
  EXPECT_NE(r.find("\"code\":\"payload_too_large\""), std::string::npos);
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(PeerClosed(fd));
  close(fd);
}

TEST(HttpServerTest, TheErrorHookDecoratesTheServersOwnErrorAnswersWithWhatWasParsed) {
  HttpServerOptions o;
  o.limits.max_body_bytes = 1000;
  std::atomic<int> calls{0};
  TestServer s(o, nullptr, [&calls](const HttpRequest& head, HttpResponse* error) {
    calls.fetch_add(1);
    const std::string* id = head.Header("x-request-id");
    error->headers.emplace_back("X-Request-Id", id ? *id : "none");
  });
  int fd = Connect(s.port());
  Send(fd, "POST /big HTTP/1.1\r\nX-Request-Id: abc-1\r\nContent-Length: 5000\r\n\r\n" +
               std::string(5000, 'x'));
  std::string r = ReadResponses(fd, 1);
  EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
  EXPECT_NE(r.find("X-Request-Id: abc-1\r\n"), std::string::npos) << r;
  close(fd);
  // A request line that does not parse: the hook runs on an empty head.
  fd = Connect(s.port());
  Send(fd, "NOT HTTP\r\n\r\n");
  r = ReadResponses(fd, 1);
  EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
  EXPECT_NE(r.find("X-Request-Id: none\r\n"), std::string::npos) << r;
  close(fd);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(s.handled(), 0);
}

TEST(HttpServerTest, MalformedRequestGets400) {
  TestServer s;
  int fd = Connect(s.port());
  Send(fd, "GARBAGE\r\n\r\n");
  std::string r = ReadResponses(fd, 1);
  EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
  EXPECT_TRUE(PeerClosed(fd));
  close(fd);
}

TEST(HttpServerTest, ShutdownFinishesRequestInFlightAndClosesIdle) {
  auto server = HttpServer::Create(
      [] {
        HttpServerOptions o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.workers = 1;
        return o;
      }(),
      [](const HttpRequest& req, HttpResponse* resp) { resp->body = req.body; });
  ASSERT_TRUE(server.ok());
  std::mutex mu;
  std::condition_variable cv;
  int heads = 0;
  (*server)->SetHeadHandler([&](HttpRequest*, HttpResponse*) {
    std::lock_guard<std::mutex> lock(mu);
    ++heads;
    cv.notify_all();
    return true;
  });
  std::thread t([&] { (*server)->Run(); });
  int idle = Connect((*server)->port());
  Send(idle, "GET / HTTP/1.1\r\n\r\n");
  ReadResponses(idle, 1);
  int busy = Connect((*server)->port());
  Send(busy, "POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nhal");
  {
    std::unique_lock<std::mutex> lock(mu);  // the server holds the busy request's head
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return heads == 2; }));
  }
  (*server)->Shutdown();
  EXPECT_TRUE(PeerClosed(idle));
  Send(busy, "f!!");
  std::string r = ReadResponses(busy, 1);
  EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_NE(r.find("half!!"), std::string::npos);
  t.join();  // Run() returns once the drained connection is done
  close(idle);
  close(busy);
}

// Refuses requests for /deny from their head, as the gateway does without credentials.
bool DenyHead(HttpRequest* head, HttpResponse* early) {
  if (head->path != "/deny") {
    head->context = std::string("from-head");
    return true;
  }
  early->status = 401;
  early->body = "no";
  return false;
}

TEST(HttpServerTest, HeadHandlerAnswersALargeBodyWithoutReadingIt) {
  TestServer s(HttpServerOptions(), DenyHead);
  int fd = Connect(s.port());
  // 4 MB announced, none sent: the answer must not wait for the body.
  Send(fd, "POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 4000000\r\n\r\n" +
               std::string(1000, 'x'));
  std::string r = ReadResponses(fd, 1);
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(PeerClosed(fd));
  EXPECT_EQ(s.handled(), 0);
  EXPECT_EQ(s.server().counters().heads_answered_early.load(), 1u);
  close(fd);
}

TEST(HttpServerTest, HeadHandlerRefusalWithASmallBodyKeepsTheConnectionInSync) {
  TestServer s(HttpServerOptions(), DenyHead);
  int fd = Connect(s.port());
  Send(fd, "POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234");
  std::string first = ReadResponses(fd, 1);
  EXPECT_EQ(first.rfind("HTTP/1.1 401", 0), 0u) << first;
  EXPECT_NE(first.find("Connection: keep-alive"), std::string::npos) << first;
  // The rest of the refused body, then a request that must be served as such.
  Send(fd, "56789POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
  std::string second = ReadResponses(fd, 1);
  EXPECT_NE(second.find("POST /ok hi ctx=from-head"), std::string::npos) << second;
  EXPECT_EQ(s.handled(), 1);
  close(fd);
}

TEST(HttpServerTest, HeadHandlerRefusalNeverGrantsContinueAndClosesChunked) {
  TestServer s(HttpServerOptions(), DenyHead);
  int fd = Connect(s.port());
  Send(fd, "POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string r = ReadResponses(fd, 1);
  EXPECT_EQ(r.find("100 Continue"), std::string::npos) << r;
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  EXPECT_TRUE(PeerClosed(fd));
  close(fd);
  fd = Connect(s.port());
  Send(fd, "POST /deny HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  r = ReadResponses(fd, 1);
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(PeerClosed(fd));
  close(fd);
  // Granted once the head passes.
  fd = Connect(s.port());
  Send(fd, "POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  char buf[64];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "HTTP/1.1 100 Continue\r\n\r\n");
  close(fd);
}

TEST(HttpServerTest, ResponseHeadersWithControlCharactersAreDropped) {
  auto server = HttpServer::Create(
      [] {
        HttpServerOptions o;
        o.host = "127.0.0.1";
        o.port = 0;
        return o;
      }(),
      [](const HttpRequest&, HttpResponse* resp) {
        resp->content_type = "text/plain\r\nX-Injected: ct";
        resp->headers.emplace_back("X-Good", "kept\tvalue");
        resp->headers.emplace_back("X-Split", "a\r\nX-Injected: value");
        resp->headers.emplace_back("X-Lf", "a\nX-Injected: lf");
        resp->headers.emplace_back("X-Nul", std::string("a\0b", 3));
        resp->headers.emplace_back("X-Injected: name\r\nX", "v");
        resp->headers.emplace_back("Bad Name", "v");
        resp->headers.emplace_back("", "v");
        resp->body = "ok";
      });
  ASSERT_TRUE(server.ok());
  std::thread t([&] { (*server)->Run(); });
  int fd = Connect((*server)->port());
  Send(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r = ReadResponses(fd, 1);
  EXPECT_EQ(r.find("X-Injected"), std::string::npos) << r;
  EXPECT_EQ(r.find("X-Split"), std::string::npos) << r;
  EXPECT_EQ(r.find("X-Nul"), std::string::npos) << r;
  EXPECT_EQ(r.find("Bad Name"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nX-Good: kept\tvalue\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nContent-Type: application/octet-stream\r\n"), std::string::npos) << r;
  EXPECT_EQ(CountOf(r, "\r\n\r\n"), 1);
  EXPECT_TRUE(r.size() >= 2 && r.compare(r.size() - 2, 2, "ok") == 0) << r;
  (*server)->Shutdown();
  t.join();
  close(fd);
}

TEST(HttpServerTest, HeaderValidators) {
  EXPECT_TRUE(IsValidHeaderName("X-Request-Id"));
  EXPECT_FALSE(IsValidHeaderName(""));
  EXPECT_FALSE(IsValidHeaderName("a b"));
  EXPECT_FALSE(IsValidHeaderName("a:b"));
  EXPECT_FALSE(IsValidHeaderName(std::string("a\0", 2)));
  EXPECT_TRUE(IsValidHeaderValue("Bearer error=\"invalid_token\""));
  EXPECT_TRUE(IsValidHeaderValue(""));
  for (const char* bad : {"a\rb", "a\nb", "\x7f", "\x01"}) EXPECT_FALSE(IsValidHeaderValue(bad));
  EXPECT_FALSE(IsValidHeaderValue(std::string("a\0b", 3)));
}

TEST(HttpServerTest, ShutdownRefusesNewConnectionsAtOnceWhileHandlersRun) {
  // The only loop is busy in a handler when the drain starts: a new connection must be refused
  // then, not accepted by the kernel into a queue nobody will serve.
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  auto server = HttpServer::Create(
      [] {
        HttpServerOptions o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.workers = 1;
        return o;
      }(),
      [&](const HttpRequest& req, HttpResponse* resp) {
        std::unique_lock<std::mutex> lock(mu);
        entered = true;
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
        resp->body = "done";
      });
  ASSERT_TRUE(server.ok());
  int port = (*server)->port();
  std::thread t([&] { (*server)->Run(); });
  int busy = Connect(port);
  Send(busy, "GET /slow HTTP/1.1\r\n\r\n");
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return entered; }));
  }
  (*server)->Shutdown();
  int late = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(connect(late, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  close(late);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
    cv.notify_all();
  }
  std::string r = ReadResponses(busy, 1);
  EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  close(busy);
  t.join();
}

// An asynchronous handler that answers from another thread, in reverse order of arrival.
class DeferredServer {
 public:
  DeferredServer() {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.workers = 2;
    auto s = HttpServer::CreateAsync(o, [this](HttpRequest req, HttpResponder respond) {
      std::lock_guard<std::mutex> lock(mu_);
      held_.emplace_back(std::move(req), std::move(respond));
      cv_.notify_all();
    });
    EXPECT_TRUE(s.ok());
    server_ = std::move(s).value();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~DeferredServer() {
    server_->Shutdown();
    thread_.join();
  }
  int port() const { return server_->port(); }
  const HttpServerCounters& counters() const { return server_->counters(); }
  bool WaitHeld(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return held_.size() >= n; });
  }
  // Whether the client of held request `i` has gone (HttpResponder::ClientGone).
  bool HeldClientGone(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.at(i).second.ClientGone();
  }
  // Waits until `n` requests are held, then answers them all, last first.
  void AnswerWhenHeld(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return held_.size() >= n; });
    for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = "answer:" + it->first.path;
      it->second(r);
      it->second(r);  // a second call is ignored
    }
    held_.clear();
  }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<HttpRequest, HttpResponder>> held_;
};

TEST(HttpServerTest, AsyncHandlerAnswersFromAnotherThread) {
  DeferredServer server;
  int a = Connect(server.port());
  int b = Connect(server.port());
  Send(a, "GET /a HTTP/1.1\r\n\r\n");
  Send(b, "GET /b HTTP/1.1\r\n\r\n");
  std::thread answer([&] { server.AnswerWhenHeld(2); });
  std::string ra = ReadResponses(a, 1);
  std::string rb = ReadResponses(b, 1);
  answer.join();
  EXPECT_NE(ra.find("answer:/a"), std::string::npos) << ra;
  EXPECT_NE(rb.find("answer:/b"), std::string::npos) << rb;
  close(a);
  close(b);
}

TEST(HttpServerTest, AsyncHandlerKeepsPipelinedAnswersInOrder) {
  DeferredServer server;
  int fd = Connect(server.port());
  Send(fd, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  // The second request is parsed only after the first is answered: one held at a time.
  std::thread answer([&] {
    server.AnswerWhenHeld(1);
    server.AnswerWhenHeld(1);
  });
  std::string r = ReadResponses(fd, 2);
  answer.join();
  size_t one = r.find("answer:/1");
  size_t two = r.find("answer:/2");
  ASSERT_NE(one, std::string::npos) << r;
  ASSERT_NE(two, std::string::npos) << r;
  EXPECT_LT(one, two);
  close(fd);
}

TEST(HttpServerTest, AsyncAnswerAfterClientHalfCloseIsStillWritten) {
  DeferredServer server;
  int fd = Connect(server.port());
  Send(fd, "GET /late HTTP/1.1\r\n\r\n");
  shutdown(fd, SHUT_WR);
  ASSERT_TRUE(server.WaitHeld(1));
  ASSERT_TRUE(WaitFor(server.counters().held_peer_closed, 1));
  EXPECT_TRUE(server.HeldClientGone(0));  // a handler may drop work it has not started
  server.AnswerWhenHeld(1);
  std::string r = ReadResponses(fd, 1);
  EXPECT_NE(r.find("answer:/late"), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  close(fd);
}

TEST(HttpServerTest, AHeldRequestsClientIsGoneOnlyOnceItClosed) {
  DeferredServer server;
  int fd = Connect(server.port());
  Send(fd, "GET /held HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(server.WaitHeld(1));
  EXPECT_FALSE(server.HeldClientGone(0));
  close(fd);  // the client gives up
  ASSERT_TRUE(WaitFor(server.counters().held_peer_closed, 1));
  EXPECT_TRUE(server.HeldClientGone(0));
  server.AnswerWhenHeld(1);  // answering a gone client is harmless
}

TEST(HttpServerTest, AsyncHeldRequestWithAFloodOfPipelinedBytesPausesReading) {
  DeferredServer server;
  int fd = Connect(server.port());
  Send(fd, "GET /held HTTP/1.1\r\n\r\n");
  // More pipelined bytes than any request may carry, while the first is held: the server stops
  // reading (instead of spinning on a readable socket) and answers in order afterwards.
  std::thread flood([fd] {
    std::string big =
        "POST /big HTTP/1.1\r\nContent-Length: 8000000\r\n\r\n" + std::string(8'000'000, 'x');
    send(fd, big.data(), big.size(), MSG_NOSIGNAL);  // may stop early when the server closes
  });
  ASSERT_TRUE(WaitFor(server.counters().held_reads_paused, 1));
  server.AnswerWhenHeld(1);
  std::string r = ReadResponses(fd, 2);
  flood.join();
  size_t first = r.find("answer:/held");
  size_t too_large = r.find("HTTP/1.1 413");
  ASSERT_NE(first, std::string::npos) << r.substr(0, 300);
  ASSERT_NE(too_large, std::string::npos) << r.substr(0, 600);
  EXPECT_LT(first, too_large);
  close(fd);
}

TEST(HttpServerTest, AsyncAnswerForAClosedClientIsDropped) {
  DeferredServer server;
  int fd = Connect(server.port());
  Send(fd, "GET /gone HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(server.WaitHeld(1));
  close(fd);
  ASSERT_TRUE(WaitFor(server.counters().held_peer_closed, 1));
  server.AnswerWhenHeld(1);  // must not crash or write to a reused descriptor
  int again = Connect(server.port());
  Send(again, "GET /next HTTP/1.1\r\n\r\n");
  std::thread answer([&] { server.AnswerWhenHeld(1); });
  std::string r = ReadResponses(again, 1);
  answer.join();
  EXPECT_NE(r.find("answer:/next"), std::string::npos) << r;
  close(again);
}

}  // namespace
}  // namespace modelfn
