#include "pool/cpu_limit.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/cpu_quota.h"
#include "common/files.h"
#include "pool/process_launcher.h"
#include "pool/worker_threads.h"

namespace modelfn {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kPeriod = 20 * kMs;

// ---- the duty cycle's bookkeeping, on simulated time ----

// Runs a group that could use `busy_cpus` whenever allowed, sampled every `sample_ns`, for
// `periods` periods; returns the CPU time it got per period, in CPUs.
double SimulatedShare(double cpus, double busy_cpus, int64_t sample_ns, int periods) {
  CpuBudget b(cpus, kPeriod);
  int64_t now = 1000 * kPeriod, used_total = 0;
  bool running = b.Charge(now, 0);
  const int64_t end = now + periods * kPeriod;
  while (now < end) {
    now += sample_ns;
    int64_t used = running ? static_cast<int64_t>(busy_cpus * static_cast<double>(sample_ns)) : 0;
    used_total += used;
    running = b.Charge(now, used);
  }
  return static_cast<double>(used_total) / static_cast<double>(periods * kPeriod);
}

TEST(CpuBudgetTest, ABusyGroupGetsItsShareInTheLongRun) {
  EXPECT_NEAR(SimulatedShare(0.25, 1, kMs, 500), 0.25, 0.01);
  EXPECT_NEAR(SimulatedShare(0.5, 2, kMs, 500), 0.5, 0.01);
  EXPECT_NEAR(SimulatedShare(1.5, 2, kMs, 500), 1.5, 0.02);
}

TEST(CpuBudgetTest, OverrunsBetweenCoarseSamplesArePaidBack) {
  // Samples 7 ms apart with two busy CPUs overshoot a 5 ms quota by up to 9 ms: still a quarter.
  EXPECT_NEAR(SimulatedShare(0.25, 2, 7 * kMs, 1000), 0.25, 0.01);
  // The smallest share: a quota of 1 ms against millisecond samples.
  EXPECT_NEAR(SimulatedShare(0.05, 1, kMs, 1000), 0.05, 0.005);
}

TEST(CpuBudgetTest, UnusedTimeIsNotSavedUp) {
  CpuBudget b(0.25, kPeriod);
  int64_t now = 40 * kPeriod;
  EXPECT_TRUE(b.Charge(now, 0));
  now += 10 * kPeriod;  // idle for ten periods
  EXPECT_TRUE(b.Charge(now, 0));
  EXPECT_EQ(b.budget_ns(), 5 * kMs);  // one quota, not eleven
  EXPECT_FALSE(b.Charge(now + kMs, 5 * kMs));
}

TEST(CpuBudgetTest, DebtKeepsTheGroupStoppedForThePeriodsItOwes) {
  CpuBudget b(0.25, kPeriod);
  int64_t now = 40 * kPeriod;
  EXPECT_FALSE(b.Charge(now, 20 * kMs));  // 15 ms over a 5 ms quota: three periods owed
  EXPECT_EQ(b.NextCheck(now, 2), now + kPeriod);
  EXPECT_FALSE(b.Charge(now + kPeriod, 0));
  EXPECT_FALSE(b.Charge(now + 2 * kPeriod, 0));
  EXPECT_FALSE(b.Charge(now + 3 * kPeriod, 0));  // back to zero: still spent
  EXPECT_TRUE(b.Charge(now + 4 * kPeriod, 0));
  // Debt is capped: an hour-long overrun (a stuck sampler) costs kMaxDebtPeriods, not an hour.
  CpuBudget c(0.25, kPeriod);
  EXPECT_FALSE(c.Charge(now, 3'600'000 * kMs));
  EXPECT_EQ(c.budget_ns(), -CpuBudget::kMaxDebtPeriods * 5 * kMs);
}

TEST(CpuBudgetTest, NextCheckComesBeforeTheBudgetCanBeSpent) {
  CpuBudget b(0.5, kPeriod);
  int64_t now = 40 * kPeriod;
  ASSERT_TRUE(b.Charge(now, 0));  // 10 ms of budget, 20 ms to the next period
  EXPECT_EQ(b.NextCheck(now, 2), now + 5 * kMs);
  EXPECT_EQ(b.NextCheck(now, 1), now + 10 * kMs);
  EXPECT_EQ(b.NextCheck(now, 64), now + kMs);  // never more often than every millisecond
  CpuBudget whole(2, kPeriod);
  ASSERT_TRUE(whole.Charge(now, 0));
  EXPECT_EQ(whole.NextCheck(now, 1), now + kPeriod);  // never past the period's end
}

// ---- the cgroup files, in a fake tree ----

std::string MakeTree(const std::string& name) {
  std::string root = testing::TempDir() + "/cpu_limit_" + name + "_" + std::to_string(getpid());
  for (const char* d : {"", "/proc", "/proc/self", "/sys", "/sys/fs", "/sys/fs/cgroup"}) {
    mkdir((root + d).c_str(), 0755);
  }
  return root;
}

std::string Read(const std::string& path) {
  auto s = ReadFile(path);
  return s.ok() ? *s : "(missing)";
}

TEST(CpuLimiterTest, CgroupV1QuotaIsWhatTheInstanceReadsAsItsShare) {
  std::string root = MakeTree("v1");
  mkdir((root + "/sys/fs/cgroup/cpu").c_str(), 0755);
  mkdir((root + "/sys/fs/cgroup/cpu/job").c_str(), 0755);
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/proc/self/cgroup", "4:memory:/m\n1:cpu:/job\n").ok());
  CpuLimiter c = CpuLimiter::DetectUnder(root, "modelfn-up-7", "");
  ASSERT_EQ(c.kind(), CpuLimitKind::kCgroupV1);
  EXPECT_STREQ(c.KindName(), "cgroup v1 cpu.cfs_quota_us");
  EXPECT_EQ(c.root(), root + "/sys/fs/cgroup/cpu/job/modelfn-up-7");
  auto group = c.CreateGroup("digits-1-1", 0.25);
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  EXPECT_EQ(*group, c.root() + "/digits-1-1");
  EXPECT_EQ(Read(*group + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Read(*group + "/cpu.cfs_quota_us"), "25000");
  EXPECT_EQ(c.ChildProcsFile(*group), *group + "/cgroup.procs");
  ASSERT_TRUE(c.Attach(*group, 4321).ok());
  EXPECT_EQ(Read(*group + "/cgroup.procs"), "4321");
  EXPECT_EQ(c.InstanceEnv(0.25).at("MODELFN_CPUS"), "0.25");
  // The instance in that group (as /proc/self/cgroup shows it) reads a quarter of a CPU.
  ASSERT_TRUE(
      WriteFileAtomic(root + "/proc/self/cgroup", "1:cpu:/job/modelfn-up-7/digits-1-1\n").ok());
  CpuQuota q = ReadCpuQuota(root);
  EXPECT_DOUBLE_EQ(q.quota_cpus, 0.25);
  EXPECT_EQ(q.EffectiveCpus(), 1);
}

TEST(CpuLimiterTest, CgroupV2EnablesTheControllerAndWritesCpuMax) {
  std::string root = MakeTree("v2");
  mkdir((root + "/sys/fs/cgroup/app").c_str(), 0755);
  ASSERT_TRUE(
      WriteFileAtomic(root + "/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
          .ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/proc/self/cgroup", "0::/app\n").ok());
  CpuLimiter c = CpuLimiter::DetectUnder(root, "modelfn-up-8", "");
  ASSERT_EQ(c.kind(), CpuLimitKind::kCgroupV2);
  EXPECT_EQ(c.root(), root + "/sys/fs/cgroup/app/modelfn-up-8");
  EXPECT_EQ(Read(c.root() + "/cgroup.subtree_control"), "+cpu");
  auto group = c.CreateGroup("i", 1.5);
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  EXPECT_EQ(Read(*group + "/cpu.max"), "150000 100000");
  ASSERT_TRUE(WriteFileAtomic(root + "/proc/self/cgroup", "0::/app/modelfn-up-8/i\n").ok());
  EXPECT_DOUBLE_EQ(ReadCpuQuota(root).quota_cpus, 1.5);
  ASSERT_TRUE(WriteFileAtomic(*group + "/cpu.stat", "usage_usec 2500000\nuser_usec 1\n").ok());
  EXPECT_DOUBLE_EQ(c.UsedCpuSeconds(*group), 2.5);
}

TEST(CpuLimiterTest, WithoutACpuControllerItEmulatesUnlessACgroupIsDemanded) {
  std::string root = MakeTree("none");
  // cpuset is not cpu.
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cgroup.controllers", "cpuset memory\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/proc/self/cgroup", "0::/\n").ok());
  CpuLimiter c = CpuLimiter::DetectUnder(root, "g", "");
  EXPECT_EQ(c.kind(), CpuLimitKind::kEmulated);
  EXPECT_EQ(CpuLimiter::DetectUnder(root, "g", "cgroup").kind(), CpuLimitKind::kNone);
  auto group = c.CreateGroup("i", 0.5);
  ASSERT_TRUE(group.ok());
  EXPECT_FALSE(group->empty());
  EXPECT_EQ(c.ChildProcsFile(*group), "");  // attached by the parent
  EXPECT_EQ(c.InstanceEnv(0.5).at("MODELFN_CPUS"), "0.5");
  c.RemoveGroup(*group);
  EXPECT_EQ(c.Attach(*group, getpid()).code(), StatusCode::kNotFound);
}

TEST(CpuLimiterTest, NoneLimitsNothingAndSharesAreInRange) {
  CpuLimiter c = CpuLimiter::Detect("unused", "none");
  EXPECT_EQ(c.kind(), CpuLimitKind::kNone);
  EXPECT_STREQ(c.KindName(), "none");
  auto group = c.CreateGroup("i", 1);
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(*group, "");
  EXPECT_TRUE(c.Attach(*group, getpid()).ok());
  EXPECT_TRUE(c.InstanceEnv(1).empty());
  EXPECT_EQ(c.CreateGroup("i", 0.01).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.CreateGroup("i", 65).status().code(), StatusCode::kInvalidArgument);
  CpuLimiter moved = CpuLimiter::Detect("unused", "emulate");
  c = std::move(moved);
  EXPECT_EQ(c.kind(), CpuLimitKind::kEmulated);
}

// ---- real enforcement ----

// A child that spins on `threads` threads; it first joins `procs` (a cgroup.procs) if given.
pid_t BusyChild(const std::string& procs, int threads) {
  pid_t pid = fork();
  if (pid == 0) {
    if (!procs.empty()) {
      int fd = open(procs.c_str(), O_WRONLY);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(126);
      close(fd);
    }
    for (int i = 1; i < threads; ++i) {
      std::thread([] {
        volatile uint64_t x = 0;
        for (;;) x = x + 1;
      }).detach();
    }
    volatile uint64_t x = 0;
    for (;;) x = x + 1;
  }
  return pid;
}

double ProcessCpuSeconds(pid_t pid) {
  clockid_t c;
  timespec ts{};
  if (clock_getcpuclockid(pid, &c) != 0 || clock_gettime(c, &ts) != 0) return -1;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The process's state letter in /proc/PID/stat ('T' when stopped), '?' when gone.
char State(pid_t pid) {
  std::string s = Read("/proc/" + std::to_string(pid) + "/stat");
  size_t r = s.rfind(')');
  return r == std::string::npos || r + 2 >= s.size() ? '?' : s[r + 2];
}

// Waits up to `ms` for the process's state to be (or, with `negate`, not be) `state`.
bool WaitState(pid_t pid, char state, bool negate, int ms) {
  for (int i = 0; i < ms; ++i) {
    if ((State(pid) == state) != negate) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

void KillAndReap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// CPU seconds per wall second the process uses over about a second.
double MeasuredShare(pid_t pid) {
  double c0 = ProcessCpuSeconds(pid);
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  double used = ProcessCpuSeconds(pid) - c0;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  testing::Test::RecordProperty("cpus_used", std::to_string(used / wall));
  return used / wall;
}

class CpuEnforcementTest : public testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : pids_) KillAndReap(pid);
    for (const auto& g : groups_) limiter_.RemoveGroup(g);
    limiter_.RemoveRoot();
  }
  // The limiter of `kind` ("cgroup" or "emulate"); false when this machine has none.
  bool Use(const std::string& kind) {
    limiter_ = CpuLimiter::Detect("modelfn-cpu-limit-test-" + std::to_string(getpid()), kind);
    return limiter_.kind() != CpuLimitKind::kNone;
  }
  std::string Group(const std::string& name, double cpus) {
    auto g = limiter_.CreateGroup(name, cpus);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    if (g.ok()) groups_.push_back(*g);
    return g.ok() ? *g : "";
  }
  pid_t Busy(const std::string& procs, int threads) {
    pid_t pid = BusyChild(procs, threads);
    if (pid > 0) pids_.push_back(pid);
    return pid;
  }

  CpuLimiter limiter_;
  std::vector<std::string> groups_;
  std::vector<pid_t> pids_;
};

// The machine is shared (and has two cores): the bands are wide.
constexpr double kLow = 0.15, kHigh = 0.35;

TEST_F(CpuEnforcementTest, ACgroupHoldsAChildThatJoinedBeforeRunningToItsShare) {
  if (!Use("cgroup")) GTEST_SKIP() << "no writable CPU cgroup here";
  std::string group = Group("joined", 0.25);
  std::string procs = limiter_.ChildProcsFile(group);
  ASSERT_FALSE(procs.empty());
  pid_t pid = Busy(procs, 2);
  ASSERT_GT(pid, 0);
  double share = MeasuredShare(pid);
  EXPECT_GT(share, kLow);
  EXPECT_LT(share, kHigh);
  EXPECT_GT(limiter_.UsedCpuSeconds(group), 0.1);
}

TEST_F(CpuEnforcementTest, ACgroupHoldsAProcessTheParentMovedIn) {
  if (!Use("cgroup")) GTEST_SKIP() << "no writable CPU cgroup here";
  std::string group = Group("moved", 0.25);
  pid_t pid = Busy("", 1);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(limiter_.Attach(group, pid).ok());
  double share = MeasuredShare(pid);
  EXPECT_GT(share, kLow);
  EXPECT_LT(share, kHigh);
}

TEST_F(CpuEnforcementTest, TheEmulationHoldsEveryThreadOfAProcessToItsShare) {
  ASSERT_TRUE(Use("emulate"));
  ASSERT_EQ(limiter_.kind(), CpuLimitKind::kEmulated);
  std::string group = Group("emulated", 0.25);
  pid_t pid = Busy("", 2);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(limiter_.Attach(group, pid).ok());
  double share = MeasuredShare(pid);
  EXPECT_GT(share, kLow);
  EXPECT_LT(share, kHigh);
  double used = limiter_.UsedCpuSeconds(group);
  EXPECT_GT(used, 0.1);
  EXPECT_LT(used, 0.6);
  limiter_.RemoveGroup(group);
  // Resumed at once, and left alone from then on.
  EXPECT_TRUE(WaitState(pid, 'T', /*negate=*/true, 100));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_NE(State(pid), 'T');
}

TEST_F(CpuEnforcementTest, TheEmulationResumesItsProcessesWhenItEnds) {
  pid_t pid = Busy("", 1);
  ASSERT_GT(pid, 0);
  {
    CpuLimiter emulated = CpuLimiter::Detect("unused", "emulate");
    auto group = emulated.CreateGroup("tiny", 0.05);
    ASSERT_TRUE(group.ok());
    ASSERT_TRUE(emulated.Attach(*group, pid).ok());
    // A twentieth of a CPU: stopped most of the time.
    ASSERT_TRUE(WaitState(pid, 'T', /*negate=*/false, 2000));
  }
  EXPECT_TRUE(WaitState(pid, 'T', /*negate=*/true, 100));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_NE(State(pid), 'T');
}

TEST_F(CpuEnforcementTest, TheEmulationDropsADeadProcessAndKeepsLimitingTheRest) {
  ASSERT_TRUE(Use("emulate"));
  std::string group = Group("two", 0.25);
  pid_t dies = Busy("", 1), lives = Busy("", 1);
  ASSERT_GT(dies, 0);
  ASSERT_GT(lives, 0);
  ASSERT_TRUE(limiter_.Attach(group, dies).ok());
  ASSERT_TRUE(limiter_.Attach(group, lives).ok());
  KillAndReap(dies);
  pids_.erase(pids_.begin());  // reaped: its pid may name another process from now on
  EXPECT_EQ(limiter_.Attach(group, dies).code(), StatusCode::kNotFound);
  double share = MeasuredShare(lives);
  EXPECT_GT(share, kLow);
  EXPECT_LT(share, kHigh);
}

// ---- instances the launcher starts ----

// Where `pid` is in the hierarchy of `controller` ("" for cgroup v2), as the cgroupfs folder.
std::string CgroupFolder(pid_t pid, CpuLimitKind kind) {
  std::string text = Read("/proc/" + std::to_string(pid) + "/cgroup");
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    std::string line = text.substr(at, end == std::string::npos ? end : end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string ctrls = "," + line.substr(a + 1, b - a - 1) + ",";
    if (kind == CpuLimitKind::kCgroupV2 && line.rfind("0::", 0) == 0) {
      return NormalizePath("/sys/fs/cgroup/" + line.substr(b + 1));
    }
    if (kind == CpuLimitKind::kCgroupV1 && ctrls.find(",cpu,") != std::string::npos) {
      return NormalizePath("/sys/fs/cgroup/cpu/" + line.substr(b + 1));
    }
  }
  return "";
}

// The quota a cgroup folder holds, in CPUs (0 when none).
double FolderQuota(const std::string& dir, CpuLimitKind kind) {
  if (kind == CpuLimitKind::kCgroupV2) {
    std::string max = Read(dir + "/cpu.max");
    return max.rfind("max", 0) == 0 ? 0 : atof(max.c_str()) / 100000;
  }
  double quota = atof(Read(dir + "/cpu.cfs_quota_us").c_str());
  return quota > 0 ? quota / atof(Read(dir + "/cpu.cfs_period_us").c_str()) : 0;
}

// Instances of a lambda-mode function whose custom runtime reports its share and spins.
class CpuLimitedLaunchTest : public testing::Test {
 protected:
  CpuLimitedLaunchTest() : workers_(4) {
    dir_ = testing::TempDir() + "/cpu-launch-" + std::to_string(getpid());
    mkdir(dir_.c_str(), 0755);
    unlink((dir_ + "/f.log").c_str());
    env_.fn_binary = "/bin/true";
    env_.store_uri = "file://" + dir_ + "/models";
    env_.log_dir = dir_;
    env_.clock = &RealClock::Get();
    env_.memory = &memory_;
    env_.cpu = &cpu_;
    env_.workers = &workers_;
    fn_.name = "f";
    fn_.model = "m";
    fn_.start = StartMode::kExec;
    fn_.command = {"/bin/sh", "-c", "echo \"cpus=$MODELFN_CPUS\"; while :; do :; done"};
  }
  ~CpuLimitedLaunchTest() override {
    if (launcher_) launcher_->Shutdown();
    workers_.Stop();
    cpu_.RemoveRoot();
    memory_.RemoveRoot();
  }
  // Memory and CPU limiters as `memory_kind` and `cpu_kind` ask (MODELFN_*_LIMIT values).
  void Use(const std::string& memory_kind, const std::string& cpu_kind) {
    std::string name = "modelfn-cpu-launch-test-" + std::to_string(getpid());
    memory_ = MemoryLimiter::Detect(name, memory_kind);
    cpu_ = CpuLimiter::Detect(name, cpu_kind);
    launcher_ = std::make_unique<ProcessLauncher>(fn_, env_);
  }
  std::shared_ptr<Instance> Launch(int id) {
    LaunchRequest r;
    r.id = static_cast<uint64_t>(id);
    r.name = "f-1-" + std::to_string(id);
    r.version = "1";
    auto in = launcher_->Launch(r, InstanceEvents{});
    EXPECT_TRUE(in.ok()) << in.status().ToString();
    return in.ok() ? *in : nullptr;
  }
  // Waits for the instances' log to hold `text`.
  bool LogHas(const std::string& text) {
    for (int i = 0; i < 5000; ++i) {
      if (Read(dir_ + "/f.log").find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  static void Finish(const std::shared_ptr<Instance>& in) {
    if (!in) return;
    in->Kill();
    while (!in->PollExit()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    in->Close();
  }

  std::string dir_;
  MemoryLimiter memory_;
  CpuLimiter cpu_;
  WorkerThreads workers_;
  PoolEnv env_;
  FunctionConfig fn_;
  std::unique_ptr<ProcessLauncher> launcher_;
};

TEST_F(CpuLimitedLaunchTest, AnEmulatedShareHoldsAnExecdInstanceAndReachesItsEnvironment) {
  fn_.cpus = 0.25;
  Use("none", "emulate");
  auto in = Launch(1);
  ASSERT_NE(in, nullptr);
  ASSERT_TRUE(LogHas("cpus=0.25\n"));
  double share = MeasuredShare(in->pid());
  EXPECT_GT(share, kLow);
  EXPECT_LT(share, kHigh);
  Finish(in);
}

TEST_F(CpuLimitedLaunchTest, ACgroupHoldsExecdInstancesAndTheSpareTheyStartFrom) {
  fn_.cpus = 0.25;
  Use("", "cgroup");
  if (cpu_.kind() == CpuLimitKind::kNone) GTEST_SKIP() << "no writable CPU cgroup here";
  auto first = Launch(1);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(LogHas("cpus=0.25\n"));
  std::string folder = CgroupFolder(first->pid(), cpu_.kind());
  EXPECT_EQ(folder, cpu_.root() + "/f-1-1");
  EXPECT_DOUBLE_EQ(FolderQuota(folder, cpu_.kind()), 0.25);
  double share = MeasuredShare(first->pid());
  EXPECT_GT(share, kLow);
  EXPECT_LT(share, kHigh);
  Finish(first);
  EXPECT_NE(access(folder.c_str(), F_OK), 0);  // removed with the instance
  if (memory_.kind() != MemoryLimitKind::kCgroupV1 && memory_.kind() != MemoryLimitKind::kCgroupV2)
    return;  // no spares without memory cgroups
  // The spare forked meanwhile sits in a CPU group of its own, and the next instance is exec'd
  // from it.
  std::string spare = cpu_.root() + "/f-spare-1";
  bool spare_ready = false;
  for (int i = 0; i < 5000 && !spare_ready; ++i) {
    std::string procs = Read(spare + "/cgroup.procs");
    spare_ready = !procs.empty() && procs != "(missing)";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(spare_ready);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // ForkSpare's return to the launcher
  auto second = Launch(2);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(CgroupFolder(second->pid(), cpu_.kind()), spare);
  EXPECT_DOUBLE_EQ(FolderQuota(spare, cpu_.kind()), 0.25);
  Finish(second);
}

}  // namespace
}  // namespace modelfn
