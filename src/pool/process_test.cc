#include "pool/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/files.h"

namespace modelfn {
namespace {

std::string TempLog(const char* name) {
  std::string path = ::testing::TempDir() + "/" + name + std::to_string(getpid()) + ".log";
  unlink(path.c_str());
  return path;
}

int Reap(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(ProcessTest, LaunchPassesOnlyTheGivenEnvironmentAndTheReadyPipe) {
  LaunchSpec spec;
  spec.binary = "/bin/sh";
  spec.args = {"-c", "echo \"foo=$FOO home=${HOME:-none}\"; echo 4242 >&3"};
  spec.env = {{"FOO", "bar"}};
  spec.log_path = TempLog("launch");
  spec.ready_pipe = true;
  auto l = LaunchProcess(spec);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  auto line = ReadReadyLine(l->ready_fd, 5000);
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_EQ(*line, "4242");
  EXPECT_EQ(Reap(l->pid), 0);
  close(l->ready_fd);
  EXPECT_EQ(*ReadFile(spec.log_path), "foo=bar home=none\n");
}

TEST(ProcessTest, ReadyLineReportsAChildThatDiedFirst) {
  LaunchSpec spec;
  spec.binary = "/bin/sh";
  spec.args = {"-c", "exit 3"};
  spec.log_path = TempLog("died");
  spec.ready_pipe = true;
  auto l = LaunchProcess(spec);
  ASSERT_TRUE(l.ok());
  auto line = ReadReadyLine(l->ready_fd, 5000);
  EXPECT_EQ(line.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Reap(l->pid), 3);
  close(l->ready_fd);
}

TEST(ProcessTest, ExecFailureIsExitStatus127) {
  LaunchSpec spec;
  spec.binary = "/nonexistent/binary";
  spec.log_path = TempLog("noexec");
  auto l = LaunchProcess(spec);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(Reap(l->pid), 127);
  EXPECT_NE(ReadFile(spec.log_path)->find("cannot exec"), std::string::npos);
}

TEST(ProcessTest, SpareExecsWhatItIsSentLater) {
  std::string log = TempLog("spare");
  auto spare = ForkSpare(log, "", true);
  ASSERT_TRUE(spare.ok()) << spare.status().ToString();
  usleep(20'000);  // it waits: nothing is written until told
  auto before = ReadFile(log);
  EXPECT_TRUE(before.ok() && before->empty());
  Status s = ExecSpare(&*spare, "/bin/sh", {"-c", "echo \"spare $X\"; echo 7 >&3"}, {{"X", "y"}});
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto line = ReadReadyLine(spare->ready_fd, 5000);
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_EQ(*line, "7");
  EXPECT_EQ(Reap(spare->pid), 0);
  close(spare->ready_fd);
  EXPECT_EQ(*ReadFile(log), "spare y\n");
}

TEST(ProcessTest, DiscardedSpareIsReaped) {
  auto spare = ForkSpare(TempLog("discard"), "", false);
  ASSERT_TRUE(spare.ok());
  pid_t pid = spare->pid;
  DiscardSpare(&*spare);
  EXPECT_EQ(spare->pid, -1);
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);  // already reaped
}

TEST(ProcessTest, ChildOutlivesTheThreadThatLaunchedIt) {
  // The parent-death signal follows the forking thread: a child forked by a thread that then
  // ends must not be killed with that thread, only with the process.
  LaunchSpec spec;
  spec.binary = "/bin/sh";
  spec.args = {"-c", "echo ok >&3; exec sleep 30"};
  spec.log_path = TempLog("thread");
  spec.ready_pipe = true;
  StatusOr<Launched> l = UnavailableError("not run");
  std::thread([&] { l = LaunchProcess(spec); }).join();
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  auto line = ReadReadyLine(l->ready_fd, 5000);
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  // The launching thread is gone; the child still runs. Nothing to wait for: give a wrong
  // parent-death signal the time to land.
  usleep(50'000);
  EXPECT_EQ(waitpid(l->pid, nullptr, WNOHANG), 0);
  kill(l->pid, SIGKILL);
  Reap(l->pid);
  close(l->ready_fd);
}

TEST(ProcessTest, ChildDiesWithItsParentProcess) {
  // A middle process launches a child, then dies by SIGKILL: the child must follow it.
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t middle = fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    LaunchSpec spec;
    spec.binary = "/bin/sleep";
    spec.args = {"30"};
    spec.log_path = TempLog("orphan");
    auto l = LaunchProcess(spec);
    pid_t pid = l.ok() ? l->pid : -1;
    ssize_t ignored = write(report[1], &pid, sizeof pid);
    (void)ignored;
    pause();
    _exit(0);
  }
  close(report[1]);
  pid_t child = -1;
  ASSERT_EQ(read(report[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  close(report[0]);
  ASSERT_GT(child, 0);
  kill(middle, SIGKILL);
  Reap(middle);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {  // up to 5 s
    auto s = ReadFile("/proc/" + std::to_string(child) + "/stat");
    gone = !s.ok() || s->find(") Z ") != std::string::npos;
    if (!gone) usleep(10'000);
  }
  EXPECT_TRUE(gone) << "the child of a killed parent still runs";
  if (!gone) kill(child, SIGKILL);
}

bool Running(pid_t pid) {
  auto s = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  return s.ok() && s->find(") Z ") == std::string::npos;
}

std::string TempDir(const char* name) {
  std::string dir = ::testing::TempDir() + "/" + name + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);
  return dir;
}

TEST(ProcessTest, LeftoversOfAnInstanceWhoseLeaderDiedAreKilled) {
  std::string dir = TempDir("leftovers");
  LaunchSpec spec;
  spec.binary = "/bin/sh";
  spec.args = {"-c", "sleep 30 & echo $! >&3"};  // the leader exits; its helper stays
  spec.log_path = TempLog("leftovers");
  spec.ready_pipe = true;
  auto l = LaunchProcess(spec);
  ASSERT_TRUE(l.ok());
  RecordInstance(dir, l->pid);
  auto helper_line = ReadReadyLine(l->ready_fd, 5000);
  ASSERT_TRUE(helper_line.ok());
  pid_t helper = static_cast<pid_t>(std::stol(*helper_line));
  Reap(l->pid);
  close(l->ready_fd);
  ASSERT_TRUE(Running(helper));
  EXPECT_EQ(KillLeftoverInstances(dir), 1);
  waitpid(helper, nullptr, 0);  // no-op unless this process adopted it
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {  // up to 5 s
    gone = !Running(helper);
    if (!gone) usleep(10'000);
  }
  EXPECT_TRUE(gone);
  EXPECT_EQ(KillLeftoverInstances(dir), 0);  // the record is gone too
}

TEST(ProcessTest, InstancesOfARunningPlatformAreLeftAlone) {
  std::string dir = TempDir("running");
  LaunchSpec spec;
  spec.binary = "/bin/sleep";
  spec.args = {"30"};
  spec.log_path = TempLog("running");
  auto l = LaunchProcess(spec);
  ASSERT_TRUE(l.ok());
  RecordInstance(dir, l->pid);
  EXPECT_EQ(KillLeftoverInstances(dir), 0);  // its parent, this process, still runs
  EXPECT_EQ(waitpid(l->pid, nullptr, WNOHANG), 0);
  ForgetInstance(dir, l->pid);
  kill(l->pid, SIGKILL);
  Reap(l->pid);
}

TEST(ProcessTest, ForcedRlimitFallback) {
  MemoryLimiter m = MemoryLimiter::Detect("modelfn-test", "rlimit");
  EXPECT_EQ(m.kind(), MemoryLimitKind::kRlimit);
  auto g = m.CreateGroup("x", 1 << 20);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, "");
  EXPECT_FALSE(m.OomKilled(""));
}

TEST(ProcessTest, SanitizerOptionsReachInstances) {
  // A sanitizer build of the platform runs sanitizer builds of instances: same options for both.
  for (const char* name : {"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"}) {
    const char* before = getenv(name);
    std::string saved = before ? before : "";
    setenv(name, "halt_on_error=1", 1);
    auto env = PassThroughEnv();
    EXPECT_EQ(env[name], "halt_on_error=1") << name;
    if (before) {
      setenv(name, saved.c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  setenv("UNRELATED_OPTIONS", "1", 1);
  EXPECT_EQ(PassThroughEnv().count("UNRELATED_OPTIONS"), 0u);
  unsetenv("UNRELATED_OPTIONS");
}

}  // namespace
}  // namespace modelfn
