// How an http-mode instance reports a request it could not deliver, over real loopback sockets: a
// connection that was never made means the instance never saw the request (the pool sends it
// elsewhere, see pool_test's ARefusedConnectionIsRetriedOnAnotherInstance), a connection that
// broke after the request went out means it may have (the pool answers 502 unless the route is
// idempotent). The HTTP client's typed failure (http_client.h: HttpFailure) tells them apart.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "pool/process.h"
#include "pool/process_instance.h"
#include "pool/worker_threads.h"

namespace modelfn {
namespace {

// A loopback socket bound to a port of its own; listening or not.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    if (listening) {
      EXPECT_EQ(listen(fd_, 1), 0);
    }
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~LoopbackSocket() { close(fd_); }
  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class HttpInstanceTest : public ::testing::Test {
 protected:
  HttpInstanceTest() {
    env_.clock = &RealClock::Get();
    env_.memory = &memory_;
    env_.workers = &workers_;
    env_.init_timeout_ms = 5'000;
    fn_.mode = InstanceMode::kHttp;
    fn_.timeout_s = 5;
  }
  ~HttpInstanceTest() override { workers_.Stop(); }

  // An instance whose readiness line names `port`, ready to take requests.
  std::shared_ptr<HttpInstance> ReadyInstance(int port) {
    auto ready = std::make_shared<std::promise<void>>();
    InstanceEvents events;
    events.ready = [ready] { ready->set_value(); };
    auto instance = std::make_shared<HttpInstance>(fn_, env_, events);
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    std::string line = std::to_string(port) + "\n";
    EXPECT_EQ(write(p[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    close(p[1]);
    instance->AwaitReady(p[0]);
    EXPECT_EQ(ready->get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return instance;
  }

  InstanceResult SendOne(HttpInstance* instance) {
    auto request = std::make_shared<ForwardRequest>();
    request->path = "/v1/infer";
    request->body = R"({"inputs":[[1]]})";
    request->content_type = "application/json";
    std::promise<InstanceResult> result;
    instance->Send(1, request, [&result](InstanceResult r) { result.set_value(std::move(r)); });
    return result.get_future().get();
  }

  FunctionConfig fn_;
  MemoryLimiter memory_;
  WorkerThreads workers_{2};
  PoolEnv env_;
};

TEST_F(HttpInstanceTest, ARefusedConnectionIsNotReached) {
  LoopbackSocket closed(/*listening=*/false);  // bound, not listening: connect is refused
  auto instance = ReadyInstance(closed.port());
  InstanceResult r = SendOne(instance.get());
  EXPECT_EQ(r.kind, InstanceResult::kNotReached);
  EXPECT_EQ(r.code, "instance_crashed");
  instance->Close();
}

TEST_F(HttpInstanceTest, AConnectionThatBreaksAfterTheRequestWasSentIsFailed) {
  LoopbackSocket server(/*listening=*/true);
  std::promise<std::string> seen;
  std::thread peer([&] {
    int c = accept(server.fd(), nullptr, nullptr);
    std::string got;
    char buf[4096];
    while (got.find("{\"inputs\":[[1]]}") == std::string::npos) {
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    seen.set_value(got);
    close(c);  // as an instance that crashes mid-request
  });
  auto instance = ReadyInstance(server.port());
  InstanceResult r = SendOne(instance.get());
  peer.join();
  EXPECT_NE(seen.get_future().get().find("POST /v1/infer"), std::string::npos);
  EXPECT_EQ(r.kind, InstanceResult::kFailed);
  EXPECT_EQ(r.code, "instance_crashed");
  instance->Close();
}

TEST_F(HttpInstanceTest, AnAnswerIsAnswered) {
  LoopbackSocket server(/*listening=*/true);
  std::thread peer([&] {
    int c = accept(server.fd(), nullptr, nullptr);
    std::string got;
    char buf[4096];
    while (got.find("{\"inputs\":[[1]]}") == std::string::npos) {
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    EXPECT_EQ(send(c, answer.data(), answer.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(answer.size()));
    close(c);
  });
  auto instance = ReadyInstance(server.port());
  InstanceResult r = SendOne(instance.get());
  peer.join();
  EXPECT_EQ(r.kind, InstanceResult::kAnswered);
  EXPECT_EQ(r.reply.status, 200);
  EXPECT_EQ(r.reply.body, "{}");
  instance->Close();
}

}  // namespace
}  // namespace modelfn
