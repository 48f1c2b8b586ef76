#include "platform/process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

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

TEST(ProcessTest, ForcedRlimitFallback) {
  MemoryLimiter m = MemoryLimiter::Detect("modelfn-test", "rlimit");
  EXPECT_EQ(m.kind(), MemoryLimitKind::kRlimit);
  auto g = m.CreateGroup("x", 1 << 20);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, "");
  EXPECT_FALSE(m.OomKilled(""));
}

}  // namespace
}  // namespace modelfn
