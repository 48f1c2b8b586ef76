// Integration tests of template instances: the real modelfn-fn in template mode over
// tests/models/add2, instances forked as children of this (subreaper) process.
#include "pool/template_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "http/http_server.h"

namespace modelfn {
namespace {

constexpr int kInitTimeoutMs = 60'000;  // sanitizer builds on a loaded machine are slow
constexpr int kForkTimeoutMs = 10'000;
constexpr const char* kBody = R"({"inputs": {"a": [[1, 2, 3]], "b": [[10, 20, 30]]}})";

std::string ModelDir() { return std::string(MODELFN_SOURCE_DIR) + "/tests/models/add2"; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The first line a child writes on `fd`, waiting up to timeout_ms; "" if it closed first.
std::string ReadLine(int fd, int timeout_ms) {
  std::string out;
  char c;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return "";
    if (read(fd, &c, 1) != 1 || c == '\n') return out;
    out.push_back(c);
  }
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string InferRequest() {
  std::string body = kBody;
  return "POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: "
         "close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ReadToClose(int fd) {
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
  return got;
}

// Sends `head_part` of a request, calls `between`, sends the rest; returns the whole answer.
std::string Post(int port, size_t split = 0, const std::function<void()>& between = {}) {
  int fd = Connect(port);
  if (fd < 0) return "";
  std::string req = InferRequest();
  if (split == 0) split = req.size();
  std::string got;
  if (SendAll(fd, std::string_view(req).substr(0, split))) {
    if (between) between();
    if (SendAll(fd, std::string_view(req).substr(split))) got = ReadToClose(fd);
  }
  close(fd);
  return got;
}

pid_t ParentOf(pid_t pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(close_paren + 2));
  char state;
  pid_t ppid = -1;
  in >> state >> ppid;
  return ppid;
}

class TemplateClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(BecomeChildSubreaper().ok());
    char tmpl[] = "/tmp/modelfn-template-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (pid_t pid : instances_) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (client_) client_->Stop(0);
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  TemplateSpec Spec(std::map<std::string, std::string> extra = {}) {
    TemplateSpec spec;
    spec.binary = MODELFN_FN_BINARY;
    spec.env = {{"MODELFN_MODEL", ModelDir()}, {"MODELFN_LOG_REQUESTS", "1"}};
    if (const char* path = getenv("PATH")) spec.env["PATH"] = path;
    // Sanitizer builds: the template and its instances keep the test's sanitizer settings.
    for (const char* k : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"}) {
      if (const char* v = getenv(k)) spec.env[k] = v;
    }
    for (auto& [k, v] : extra) spec.env[k] = v;
    spec.log_path = dir_ + "/template.log";
    return spec;
  }

  void StartReady(std::map<std::string, std::string> extra = {}) {
    auto client = TemplateClient::Start(Spec(std::move(extra)), &RealClock::Get());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
    Status s = client_->WaitReady(kInitTimeoutMs);
    ASSERT_TRUE(s.ok()) << s.ToString() << "\n" << ReadAll(dir_ + "/template.log");
  }

  // Forks an http-mode instance and returns its port (0 on failure).
  int ForkHttpInstance(const std::string& log_name, pid_t* pid_out = nullptr) {
    int log_fd =
        open((dir_ + "/" + log_name).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int ready[2];
    EXPECT_EQ(pipe2(ready, O_CLOEXEC), 0);
    InstanceSpec spec;
    spec.env = {{"PORT", "0"}, {"MODELFN_HOST", "127.0.0.1"}, {"MODELFN_WORKERS", "1"}};
    spec.log_fd = log_fd;
    spec.ready_fd = ready[1];
    StatusOr<pid_t> pid = client_->Fork(spec, kForkTimeoutMs);
    close(log_fd);
    close(ready[1]);
    EXPECT_TRUE(pid.ok()) << pid.status().ToString();
    if (!pid.ok()) {
      close(ready[0]);
      return 0;
    }
    instances_.push_back(*pid);
    if (pid_out) *pid_out = *pid;
    std::string line = ReadLine(ready[0], kInitTimeoutMs);
    close(ready[0]);
    EXPECT_FALSE(line.empty()) << ReadAll(dir_ + "/" + log_name);
    return line.empty() ? 0 : atoi(line.c_str());
  }

  std::string dir_;
  std::unique_ptr<TemplateClient> client_;
  std::vector<pid_t> instances_;
};

TEST_F(TemplateClientTest, ForkedHttpInstanceAnswersInfer) {
  StartReady();
  EXPECT_NE(client_->init_summary().find("\"model\":\"add2\""), std::string::npos);
  pid_t pid = 0;
  int port = ForkHttpInstance("instance.log", &pid);
  ASSERT_GT(port, 0);
  std::string answer = Post(port);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_NE(answer.find("[11,22,33]"), std::string::npos) << answer;
  // Reaped and signalled by this process, like an exec'd instance: our child, its own group.
  EXPECT_EQ(ParentOf(pid), getpid());
  EXPECT_EQ(getpgid(pid), pid);
  std::string log = ReadAll(dir_ + "/instance.log");
  EXPECT_NE(log.find("\"start\":\"fork\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"fork_ms\":"), std::string::npos) << log;
  EXPECT_NE(log.find("\"cold_start\":true"), std::string::npos) << log;
  std::string tlog = ReadAll(dir_ + "/template.log");
  EXPECT_NE(tlog.find("\"mode\":\"template\""), std::string::npos) << tlog;
  EXPECT_EQ(tlog.find("\"start\":\"fork\""), std::string::npos) << tlog;
}

TEST_F(TemplateClientTest, InstancesAreIndependentOfEachOther) {
  StartReady();
  int a = ForkHttpInstance("a.log");
  int b = ForkHttpInstance("b.log");
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  EXPECT_NE(a, b);
  EXPECT_EQ(Post(a).rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(Post(b).rfind("HTTP/1.1 200", 0), 0u);
}

// What we chose: the template only makes instances. Killing it (its whole group, SIGKILL) leaves
// a request that is half sent to an instance to finish normally.
TEST_F(TemplateClientTest, KillingTheTemplateLeavesInstancesServingMidRequest) {
  StartReady();
  int port = ForkHttpInstance("instance.log");
  ASSERT_GT(port, 0);
  pid_t tpid = client_->pid();
  std::string answer = Post(port, InferRequest().size() - 10, [&] {
    kill(-tpid, SIGKILL);
    client_->Stop(0);  // reaps it: the kill has landed before the rest is sent
  });
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_EQ(Post(port).rfind("HTTP/1.1 200", 0), 0u);
  InstanceSpec spec;
  EXPECT_FALSE(client_->Fork(spec, kForkTimeoutMs).ok());
}

TEST_F(TemplateClientTest, InitFailureIsTyped) {
  auto client =
      TemplateClient::Start(Spec({{"MODELFN_MODEL", dir_ + "/no-such-model"}}), &RealClock::Get());
  ASSERT_TRUE(client.ok());
  Status s = (*client)->WaitReady(kInitTimeoutMs);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_FALSE(s.reason().empty());
  EXPECT_NE(s.reason(), "template_threads");
  EXPECT_NE(s.message().find("no-such-model"), std::string::npos) << s.ToString();
  // The failure stays the answer; forking is refused.
  EXPECT_EQ((*client)->WaitReady(0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*client)->Fork(InstanceSpec{}, kForkTimeoutMs).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(TemplateClientTest, TemplateWithThreadsIsRefused) {
  auto client =
      TemplateClient::Start(Spec({{"MODELFN_ORT_INTRA_OP_THREADS", "2"}}), &RealClock::Get());
  ASSERT_TRUE(client.ok());
  Status s = (*client)->WaitReady(kInitTimeoutMs);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.reason(), "template_threads") << s.ToString();
  EXPECT_NE(ReadAll(dir_ + "/template.log").find("template mode refused"), std::string::npos);
}

TEST_F(TemplateClientTest, AnotherModelIsRefused) {
  StartReady();
  InstanceSpec spec;
  spec.env = {{"MODELFN_MODEL", dir_ + "/other"}};
  StatusOr<pid_t> pid = client_->Fork(spec, kForkTimeoutMs);
  EXPECT_EQ(pid.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pid.status().reason(), "model_mismatch");
  // The template is still there for the next command.
  EXPECT_GT(ForkHttpInstance("instance.log"), 0);
}

TEST_F(TemplateClientTest, StopEndsTheTemplate) {
  StartReady();
  pid_t tpid = client_->pid();
  client_->Stop();
  EXPECT_EQ(kill(tpid, 0), -1);  // reaped: the pid is gone
  EXPECT_NE(ReadAll(dir_ + "/template.log").find("template stopped"), std::string::npos);
}

TEST_F(TemplateClientTest, InstanceTakesItsAddressSpaceLimit) {
  StartReady();
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  InstanceSpec spec;
  spec.env = {{"PORT", "0"}, {"MODELFN_HOST", "127.0.0.1"}};
  spec.ready_fd = ready[1];
  spec.rlimit_as_bytes = int64_t{1} << 62;  // binds nothing, even under a sanitizer
  StatusOr<pid_t> pid = client_->Fork(spec, kForkTimeoutMs);
  close(ready[1]);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  instances_.push_back(*pid);
  EXPECT_FALSE(ReadLine(ready[0], kInitTimeoutMs).empty());
  close(ready[0]);
  std::string limits = ReadAll("/proc/" + std::to_string(*pid) + "/limits");
  EXPECT_NE(limits.find(std::to_string(int64_t{1} << 62)), std::string::npos) << limits;
}

// Setup the instance cannot complete ends it before it serves, with the reason in its log.
class InstanceRefusalTest : public TemplateClientTest {
 protected:
  // Forks with `spec` plus a log and a readiness pipe; returns the instance's log once the pipe
  // closed without a port.
  // `ours`: the instance is this process's child (reaped at the end).
  std::string ForkExpectingRefusal(InstanceSpec spec, bool ours) {
    std::string path = dir_ + "/refused.log";
    int log_fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int ready[2];
    EXPECT_EQ(pipe2(ready, O_CLOEXEC), 0);
    spec.log_fd = log_fd;
    spec.ready_fd = ready[1];
    StatusOr<pid_t> pid = client_->Fork(spec, kForkTimeoutMs);
    close(log_fd);
    close(ready[1]);
    EXPECT_TRUE(pid.ok()) << pid.status().ToString();
    if (pid.ok() && ours) instances_.push_back(*pid);
    EXPECT_EQ(ReadLine(ready[0], kInitTimeoutMs), "");  // closed by the exit, no port
    close(ready[0]);
    return ReadAll(path);
  }
};

TEST_F(InstanceRefusalTest, CgroupItCannotJoin) {
  StartReady();
  InstanceSpec spec;
  spec.cgroup_procs = dir_ + "/no-such-group/cgroup.procs";
  std::string log = ForkExpectingRefusal(spec, true);
  EXPECT_NE(log.find("cannot join"), std::string::npos) << log;
}

TEST_F(InstanceRefusalTest, ParentThatIsNotASubreaper) {
  StartReady();
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
  std::string log = ForkExpectingRefusal(InstanceSpec{}, false);
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  EXPECT_NE(log.find("not a child subreaper"), std::string::npos) << log;
}

// A small Runtime API: one event on the first /next, the rest held; records the response.
class RuntimeApi {
 public:
  explicit RuntimeApi(std::string event) : event_(std::move(event)) {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.workers = 1;
    o.drain_timeout_ms = 0;
    auto server = HttpServer::CreateAsync(o, [this](HttpRequest req, HttpResponder respond) {
      OnRequest(std::move(req), std::move(respond));
    });
    EXPECT_TRUE(server.ok());
    server_ = std::move(server).value();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~RuntimeApi() {
    server_->Shutdown();
    thread_.join();
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  // The body posted as the invocation's response, or "" after timeout_ms.
  std::string WaitResponse(int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !response_.empty(); });
    return response_;
  }

 private:
  void OnRequest(HttpRequest req, HttpResponder respond) {
    const std::string base = "/2018-06-01/runtime/invocation/";
    HttpResponse r;
    if (req.method == "GET" && req.path == base + "next") {
      std::lock_guard<std::mutex> lock(mu_);
      if (sent_) {
        held_.push_back(std::move(respond));  // no more work: the call waits
        return;
      }
      sent_ = true;
      r.body = event_;
      r.headers = {{"Lambda-Runtime-Aws-Request-Id", "req-1"},
                   {"Lambda-Runtime-Deadline-Ms", "99999999999999"},
                   {"Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:test"}};
    } else if (req.method == "POST" && req.path == base + "req-1/response") {
      std::lock_guard<std::mutex> lock(mu_);
      response_ = req.body.empty() ? "(empty)" : req.body;
      cv_.notify_all();
      r.status = 202;
      r.body = "{}";
    } else {
      r.status = 404;
      r.body = "{}";
    }
    respond(std::move(r));
  }

  std::string event_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool sent_ = false;
  std::string response_;
  std::vector<HttpResponder> held_;
};

TEST_F(TemplateClientTest, ForkedLambdaInstancePollsTheRuntimeApi) {
  StartReady();
  RuntimeApi api(kBody);
  int log_fd =
      open((dir_ + "/lambda.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  InstanceSpec spec;
  spec.env = {{"AWS_LAMBDA_RUNTIME_API", api.endpoint()},
              {"AWS_LAMBDA_FUNCTION_NAME", "add2"},
              {"AWS_LAMBDA_LOG_STREAM_NAME", "add2-1-1"}};
  spec.log_fd = log_fd;
  StatusOr<pid_t> pid = client_->Fork(spec, kForkTimeoutMs);
  close(log_fd);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  instances_.push_back(*pid);
  std::string response = api.WaitResponse(kInitTimeoutMs);
  EXPECT_NE(response.find("[11,22,33]"), std::string::npos) << response << "\n"
                                                            << ReadAll(dir_ + "/lambda.log");
  std::string log = ReadAll(dir_ + "/lambda.log");
  EXPECT_NE(log.find("\"start\":\"fork\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"mode\":\"lambda\""), std::string::npos) << log;
}

// Forks from four threads at once (the client serialises them) while the template is killed
// midway: each fork either makes an instance or fails typed (Unavailable) without waiting out
// its timeout, and every instance that reported its port serves.
TEST_F(TemplateClientTest, StressForksFromManyThreadsWhileTheTemplateIsKilled) {
  StartReady();
  std::mutex mu;
  std::vector<pid_t> pids;
  std::vector<int> ports;
  std::atomic<int> made{0}, refused{0}, other{0};
  auto fork_one = [&] {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
      ++other;
      return;
    }
    InstanceSpec spec;
    spec.env = {{"PORT", "0"}, {"MODELFN_HOST", "127.0.0.1"}, {"MODELFN_WORKERS", "1"}};
    spec.ready_fd = ready[1];
    StatusOr<pid_t> pid = client_->Fork(spec, kForkTimeoutMs);
    close(ready[1]);
    if (pid.ok()) {
      std::string line = ReadLine(ready[0], kInitTimeoutMs);
      std::lock_guard<std::mutex> lock(mu);
      pids.push_back(*pid);
      if (!line.empty()) ports.push_back(atoi(line.c_str()));
      ++made;
    } else if (pid.status().code() == StatusCode::kUnavailable) {
      ++refused;
    } else {
      ++other;
    }
    close(ready[0]);
  };
  constexpr int kThreads = 4, kEach = 6;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) fork_one();
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (made.load() < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(-client_->pid(), SIGKILL);
  for (auto& t : threads) t.join();
  instances_.insert(instances_.end(), pids.begin(), pids.end());
  EXPECT_GE(made.load(), 4);
  EXPECT_EQ(made.load() + refused.load(), kThreads * kEach);
  EXPECT_EQ(other.load(), 0);
  for (int port : ports) EXPECT_EQ(Post(port).rfind("HTTP/1.1 200", 0), 0u) << port;
  EXPECT_EQ(client_->Fork(InstanceSpec{}, kForkTimeoutMs).status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace modelfn
