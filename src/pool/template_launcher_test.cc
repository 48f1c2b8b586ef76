#include "pool/template_launcher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "gtest/gtest.h"
#include "pool/orphans.h"

namespace modelfn {
namespace {

// A template that cannot serve: /bin/true exits at once instead of reporting its init, so the
// launcher must fall back to exec (of the same program: those instances exit too, which is all
// these tests need of them).
class TemplateLauncherTest : public ::testing::Test {
 protected:
  TemplateLauncherTest() : workers_(4) {
    dir_ = ::testing::TempDir() + "/template-launcher-" + std::to_string(getpid());
    mkdir(dir_.c_str(), 0755);
    memory_ = MemoryLimiter::Detect("modelfn-test", "none");
    env_.fn_binary = "/bin/true";
    env_.store_uri = "file://" + dir_ + "/models";
    env_.log_dir = dir_;
    env_.clock = &RealClock::Get();
    env_.memory = &memory_;
    env_.workers = &workers_;
    env_.init_timeout_ms = 5'000;
    env_.log = [this](const std::string& level, const std::string& message) {
      if (level == "warn" && message.find("exec'd") != std::string::npos) ++warnings_;
    };
    fn_.name = "f";
    fn_.model = "m";
  }

  // Polls (the template's start runs on a worker) until `state` starts with `prefix`.
  static bool WaitState(const TemplateLauncher& l, const std::string& prefix) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (l.template_state().rfind(prefix, 0) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  static void Finish(const std::shared_ptr<Instance>& in) {
    in->Kill();
    while (!in->PollExit()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    in->Close();
  }

  std::string dir_;
  MemoryLimiter memory_;
  WorkerThreads workers_;
  PoolEnv env_;
  FunctionConfig fn_;
  std::atomic<int> warnings_{0};
};

TEST_F(TemplateLauncherTest, ExecsWhileNoTemplateAndAfterItFailedLoggingOnce) {
  TemplateLauncher l(fn_, env_);
  EXPECT_EQ(l.template_state(), "off");
  LaunchRequest r;
  r.id = 1;
  r.name = "f-1-1";
  r.version = "1";
  // The first launch of a version nobody announced starts its template and waits for it: it is
  // exec'd once the template has failed.
  auto first = l.Launch(r, InstanceEvents{});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE((*first)->forked());
  ASSERT_TRUE(WaitState(l, "failed: ")) << l.template_state();
  for (int i = 2; i <= 3; ++i) {
    r.id = i;
    auto in = l.Launch(r, InstanceEvents{});
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    EXPECT_FALSE((*in)->forked());
    Finish(*in);
  }
  Finish(*first);
  EXPECT_EQ(warnings_.load(), 1);
  // A new version gets a template of its own (which fails the same way: logged again).
  l.UseVersion("2");
  ASSERT_TRUE(WaitState(l, "failed: ")) << l.template_state();
  EXPECT_EQ(warnings_.load(), 2);
  l.Shutdown();
  EXPECT_EQ(l.template_state(), "off");
}

TEST_F(TemplateLauncherTest, ALaunchWaitsForTheTemplateAndEndsWithTheLauncher) {
  // A template whose init never ends.
  std::string slow = dir_ + "/slow-template";
  FILE* f = fopen(slow.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("#!/bin/sh\nexec sleep 60\n", f);
  fclose(f);
  chmod(slow.c_str(), 0755);
  env_.fn_binary = slow;
  auto l = std::make_unique<TemplateLauncher>(fn_, env_);
  l->UseVersion("1");
  LaunchRequest r;
  r.id = 1;
  r.name = "f-1-1";
  r.version = "1";
  auto in = l->Launch(r, InstanceEvents{});
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(l->template_state(), "starting");
  // Waiting: no process yet, not exited, and a kill is kept for when it starts.
  EXPECT_EQ((*in)->pid(), -1);
  (*in)->Kill();
  EXPECT_FALSE((*in)->PollExit().has_value());
  // Stopping the launcher ends the template's init at once; the waiting launch never starts.
  l.reset();
  EXPECT_EQ((*in)->PollExit(), Scheduler::Exit::kExited);
  EXPECT_EQ((*in)->pid(), -1);
  (*in)->Close();
  EXPECT_EQ(warnings_.load(), 0);
}

TEST_F(TemplateLauncherTest, AStoppedLauncherStartsNoTemplate) {
  TemplateLauncher l(fn_, env_);
  l.Shutdown();
  l.UseVersion("1");
  EXPECT_EQ(l.template_state(), "off");
}

}  // namespace
}  // namespace modelfn
