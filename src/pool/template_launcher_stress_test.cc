// A stress test of TemplateLauncher for ThreadSanitizer (scripts/test.sh --tsan): several threads
// launch, stop and kill http-mode instances of one function while its template (the real
// modelfn-fn in template mode over tests/models/add2) is killed and replaced by a version change
// midway. Every launch must come back with an instance that ends when told to.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "function/template_protocol.h"
#include "gtest/gtest.h"
#include "pool/template_launcher.h"

namespace modelfn {
namespace {

constexpr int kInitTimeoutMs = 60'000;  // sanitizer builds on a loaded machine are slow

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Copies tests/models/add2 into a file store as version `version`.
void PublishAdd2(const std::string& store, const std::string& version) {
  std::string src = std::string(MODELFN_SOURCE_DIR) + "/tests/models/add2/";
  std::string dir = store + "/add2/versions/" + version;
  ASSERT_EQ(system(("mkdir -p '" + dir + "'").c_str()), 0);
  ASSERT_EQ(system(("cp '" + src + "model.onnx' '" + dir + "/'").c_str()), 0);
  std::string manifest = ReadAll(src + "manifest.json");
  size_t at = manifest.find("\"version\":\"1\"");
  ASSERT_NE(at, std::string::npos);
  manifest.replace(at, 13, "\"version\":\"" + version + "\"");
  std::ofstream(dir + "/manifest.json") << manifest;
}

// This process's children that run in template mode (their environment names the control
// socket). Forked instances inherit that environment too: call while none runs.
std::vector<pid_t> TemplateChildren() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  std::string me = std::to_string(getpid());
  std::string marker = std::string(kTemplateFdEnv) + "=";
  while (dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    std::string state, ppid;
    fields >> state >> ppid;
    if (ppid != me) continue;
    if (ReadAll("/proc/" + std::to_string(pid) + "/environ").find(marker) != std::string::npos) {
      out.push_back(pid);
    }
  }
  closedir(d);
  return out;
}

class TemplateLauncherStressTest : public ::testing::Test {
 protected:
  TemplateLauncherStressTest() : workers_(12) {}

  void SetUp() override {
    ASSERT_TRUE(BecomeChildSubreaper().ok());
    char tmpl[] = "/tmp/modelfn-template-stress-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    PublishAdd2(dir_ + "/models", "1");
    PublishAdd2(dir_ + "/models", "2");
    memory_ = MemoryLimiter::Detect("modelfn-test", "none");
    env_.fn_binary = MODELFN_FN_BINARY;
    env_.store_uri = "file://" + dir_ + "/models";
    env_.log_dir = dir_;
    env_.base_env = {{"MODELFN_CACHE_DIR", dir_ + "/cache"}};
    if (const char* path = getenv("PATH")) env_.base_env["PATH"] = path;
    // Sanitizer builds: the template and its instances keep the test's sanitizer settings.
    for (const char* k : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"}) {
      if (const char* v = getenv(k)) env_.base_env[k] = v;
    }
    env_.clock = &RealClock::Get();
    env_.memory = &memory_;
    env_.workers = &workers_;
    env_.init_timeout_ms = kInitTimeoutMs;
    env_.log = [this](const std::string&, const std::string& message) {
      if (message.find("failed a fork") != std::string::npos) ++replaced_;
    };
    fn_.name = "f";
    fn_.model = "add2";
    fn_.mode = InstanceMode::kHttp;
  }

  void TearDown() override {
    workers_.Stop();
    ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }

  // Polls (the template's start runs on a worker) until `state` starts with `prefix`.
  static bool WaitState(const TemplateLauncher& l, const std::string& prefix) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kInitTimeoutMs);
    while (std::chrono::steady_clock::now() < deadline) {
      if (l.template_state().rfind(prefix, 0) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  std::string dir_;
  MemoryLimiter memory_;
  WorkerThreads workers_;
  PoolEnv env_;
  FunctionConfig fn_;
  std::atomic<int> replaced_{0};  // templates found dead by a fork
};

// One launched instance's readiness, reported by its events.
struct Readiness {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  bool failed = false;
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::milliseconds(kInitTimeoutMs),
                [this] { return ready || failed; });
    return ready;
  }
  // An instance's events, reported to `r`.
  static InstanceEvents Events(const std::shared_ptr<Readiness>& r) {
    InstanceEvents events;
    events.ready = [r] {
      std::lock_guard<std::mutex> lock(r->mu);
      r->ready = true;
      r->cv.notify_all();
    };
    events.init_error = [r](std::string) {
      std::lock_guard<std::mutex> lock(r->mu);
      r->failed = true;
      r->cv.notify_all();
    };
    return events;
  }
};

// A launch returns before its fork: the fork (a round trip with the template, and the memory
// group's creation) runs on a worker, never on the caller, which in the platform is a gateway loop
// holding its pool's lock. Here every worker is held busy, so the fork cannot have happened by the
// time Launch returns; once they are free, the instance is forked and becomes ready.
TEST_F(TemplateLauncherStressTest, ALaunchReturnsBeforeItsForkWhichRunsOnAWorker) {
  // Holds the workers until opened. Declared first, so it outlives the workers waiting on it; a
  // failed assertion opens it on the way out (before the launcher waits for its queued fork).
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    void Open() {
      {
        std::lock_guard<std::mutex> lock(mu);
        open = true;
      }
      cv.notify_all();
    }
    void Wait() {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [this] { return open; });
    }
  } gate;
  WorkerThreads workers(2);
  PoolEnv env = env_;
  env.workers = &workers;
  auto launcher = std::make_unique<TemplateLauncher>(fn_, env);
  struct OpenAtExit {
    Gate* gate;
    ~OpenAtExit() { gate->Open(); }
  } open_at_exit{&gate};
  launcher->UseVersion("1");
  ASSERT_TRUE(WaitState(*launcher, "ready")) << launcher->template_state() << "\n"
                                             << ReadAll(dir_ + "/f.log");
  for (int i = 0; i < 2; ++i) workers.Post([&gate] { gate.Wait(); });
  auto readiness = std::make_shared<Readiness>();
  LaunchRequest r;
  r.id = 1;
  r.name = "f-1-1";
  r.version = "1";
  auto in = launcher->Launch(r, Readiness::Events(readiness));
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ((*in)->pid(), -1);
  EXPECT_FALSE((*in)->PollExit().has_value());
  gate.Open();
  EXPECT_TRUE(readiness->Wait()) << ReadAll(dir_ + "/f.log");
  EXPECT_GT((*in)->pid(), 0);
  EXPECT_TRUE((*in)->forked());
  (*in)->Stop();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(*in)->PollExit() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE((*in)->PollExit().has_value());
  (*in)->Close();
}

TEST_F(TemplateLauncherStressTest, LaunchesStopsAndKillsWhileTheTemplateDiesAndIsReplaced) {
  // Template-mode children left by an earlier test in this process (a fork the template was
  // killed in the middle of leaves its instance to this subreaper) are not this test's template.
  std::vector<pid_t> before = TemplateChildren();
  auto launcher = std::make_unique<TemplateLauncher>(fn_, env_);
  TemplateLauncher& l = *launcher;
  l.UseVersion("1");
  ASSERT_TRUE(WaitState(l, "ready")) << l.template_state() << "\n" << ReadAll(dir_ + "/f.log");
  std::vector<pid_t> first;
  for (pid_t pid : TemplateChildren()) {
    if (std::find(before.begin(), before.end(), pid) == before.end()) first.push_back(pid);
  }
  ASSERT_EQ(first.size(), 1u);

  constexpr int kThreads = 3, kEach = 6;
  std::atomic<int> launched{0}, forked{0}, failed_launches{0}, not_ready{0}, not_exited{0};
  std::atomic<uint64_t> next_id{1};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto readiness = std::make_shared<Readiness>();
        LaunchRequest r;
        r.id = next_id++;
        r.name = "f-1-" + std::to_string(r.id);
        r.version = "1";
        auto in = l.Launch(r, Readiness::Events(readiness));
        if (!in.ok()) {
          ++failed_launches;
          continue;
        }
        ++launched;
        // Half are killed at once (before they started, some of them), half stopped once ready.
        if ((i + t) % 2 == 0) {
          (*in)->Kill();
        } else {
          if (!readiness->Wait()) ++not_ready;
          (*in)->Stop();
        }
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!(*in)->PollExit() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        if (!(*in)->PollExit()) {
          ++not_exited;
          (*in)->Kill();
          while (!(*in)->PollExit()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        if ((*in)->forked()) ++forked;
        (*in)->Close();
      }
    });
  }
  // Midway: the template dies (the next fork finds it gone and starts another), then a version
  // change replaces it, and the launches of version 1 bring version 1 back.
  auto wait_launched = [&](int n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (launched.load() + failed_launches.load() < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  };
  wait_launched(kThreads);
  kill(first[0], SIGKILL);
  wait_launched(kThreads * kEach / 2);
  l.UseVersion("2");
  for (auto& th : threads) th.join();

  EXPECT_EQ(failed_launches.load(), 0);
  EXPECT_EQ(launched.load(), kThreads * kEach);
  EXPECT_EQ(not_ready.load(), 0) << ReadAll(dir_ + "/f.log");
  EXPECT_EQ(not_exited.load(), 0);
  EXPECT_GT(forked.load(), 0);
  EXPECT_GT(replaced_.load(), 0);  // the killed template was found out and replaced
  // After all that, version 1's template serves again.
  ASSERT_TRUE(WaitState(l, "ready")) << l.template_state();
  launcher.reset();
}

}  // namespace
}  // namespace modelfn
