#include "pool/cpu_limit.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/cpu_quota.h"
#include "common/files.h"
#include "common/json.h"
#include "pool/cgroup_sweep.h"

namespace modelfn {
namespace {

constexpr int64_t kMs = 1'000'000;

std::string ReadSmall(const std::string& path) {
  auto s = ReadFile(path);
  return s.ok() ? *s : "";
}

// cgroupfs files exist once their folder does; a fake tree's are made as they are written.
bool WriteControl(const std::string& path, const std::string& value, bool fake_tree) {
  int flags = O_WRONLY | O_CLOEXEC | (fake_tree ? O_CREAT | O_TRUNC : 0);
  int fd = open(path.c_str(), flags, 0644);
  if (fd < 0) return false;
  ssize_t n = write(fd, value.data(), value.size());
  int e = errno;
  close(fd);
  errno = e;
  return n == static_cast<ssize_t>(value.size());
}

bool HasWord(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    if (w == word) return true;
  }
  return false;
}

// This process's group in the v1 hierarchy holding `controller`, or v2's ("" controller); "/"
// when /proc/self/cgroup does not say.
std::string OwnCgroup(const std::string& fs_root, const std::string& controller) {
  std::string path = OwnCgroupPath(fs_root, controller);
  return path.empty() ? "/" : path;
}

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// A process's CPU time (every thread's) in ns, -1 once it is gone (reaped).
int64_t CpuNs(clockid_t clock) {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return -1;
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t ProcessCpuNs(pid_t pid) {
  clockid_t c;
  if (clock_getcpuclockid(pid, &c) != 0) return -1;
  return CpuNs(c);
}

}  // namespace

// ---- CpuBudget ----

CpuBudget::CpuBudget(double cpus, int64_t period_ns)
    : quota_ns_(std::max<int64_t>(1, std::llround(cpus * static_cast<double>(period_ns)))),
      period_ns_(period_ns) {}

bool CpuBudget::Charge(int64_t now_ns, int64_t used_ns) {
  if (period_start_ns_ < 0) {
    // Periods start at multiples of the period, so that groups' periods end together and the
    // emulation's thread wakes once for all of them.
    period_start_ns_ = now_ns - now_ns % period_ns_;
    budget_ns_ = quota_ns_;
  }
  if (now_ns - period_start_ns_ >= period_ns_) {
    int64_t periods = (now_ns - period_start_ns_) / period_ns_;
    period_start_ns_ += periods * period_ns_;
    // Each period refills by one quota, and a refill never leaves more than one quota.
    budget_ns_ = periods > kMaxDebtPeriods ? quota_ns_
                                           : std::min(quota_ns_, budget_ns_ + periods * quota_ns_);
  }
  budget_ns_ = std::max(budget_ns_ - std::max<int64_t>(0, used_ns), -kMaxDebtPeriods * quota_ns_);
  return budget_ns_ > 0;
}

int64_t CpuBudget::NextCheck(int64_t now_ns, int max_cpus) const {
  int64_t next_period = period_start_ns_ < 0 ? now_ns : period_start_ns_ + period_ns_;
  if (budget_ns_ <= 0) return std::max(next_period, now_ns + kMs / 10);
  int64_t spend = budget_ns_ / std::max(1, max_cpus);
  return std::min(next_period, now_ns + std::max(spend, kMs));
}

// ---- the emulation ----

class CpuLimiter::DutyCycle {
 public:
  DutyCycle() : max_cpus_(std::max(1u, std::thread::hardware_concurrency())) {}

  ~DutyCycle() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& entry : groups_) Release(&entry.second);
  }

  std::string Create(const std::string& instance, double cpus) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string handle = "emulated:" + instance + "#" + std::to_string(next_id_++);
    groups_.emplace(handle, Group(cpus));
    return handle;
  }

  Status Attach(const std::string& handle, pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = groups_.find(handle);
    if (it == groups_.end()) return NotFoundError("no CPU group " + handle);
    Member m;
    m.pid = pid;
    // Signals go through a pidfd where the kernel has them: a pid reused after the instance was
    // reaped (a template's instance is reaped by the pool, not by us) is never stopped.
    m.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (m.pidfd < 0 && errno == ESRCH) return NotFoundError("process " + std::to_string(pid));
    if (clock_getcpuclockid(pid, &m.clock) != 0 || (m.last_ns = CpuNs(m.clock)) < 0) {
      if (m.pidfd >= 0) close(m.pidfd);
      return NotFoundError("cannot read the CPU time of process " + std::to_string(pid));
    }
    Group& g = it->second;
    if (g.stopped) Signal(m, SIGSTOP);
    g.members.push_back(m);
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    wake_.notify_all();
    return Status::Ok();
  }

  void Remove(const std::string& handle) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = groups_.find(handle);
    if (it == groups_.end()) return;
    Release(&it->second);
    groups_.erase(it);
  }

  double Used(const std::string& handle) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = groups_.find(handle);
    if (it == groups_.end()) return 0;
    int64_t used = it->second.used_ns;
    for (const Member& m : it->second.members)
      used += std::max<int64_t>(0, CpuNs(m.clock) - m.last_ns);
    return static_cast<double>(used) / 1e9;
  }

 private:
  struct Member {
    pid_t pid = -1;
    int pidfd = -1;
    clockid_t clock{};
    int64_t last_ns = 0;  // CPU time at the last sample
  };
  struct Group {
    explicit Group(double cpus) : budget(cpus, kEmulationPeriodNs) {}
    CpuBudget budget;
    std::vector<Member> members;
    bool stopped = false;
    int64_t used_ns = 0;  // by members, up to their last samples
  };

  static void Signal(const Member& m, int sig) {
    if (m.pidfd >= 0) {
      syscall(SYS_pidfd_send_signal, m.pidfd, sig, nullptr, 0);
    } else {
      kill(m.pid, sig);
    }
  }

  // Under mu_: resumes the group's processes if stopped and lets them go.
  static void Release(Group* g) {
    for (Member& m : g->members) {
      if (g->stopped) Signal(m, SIGCONT);
      if (m.pidfd >= 0) close(m.pidfd);
    }
    g->members.clear();
    g->stopped = false;
  }

  void Loop() {
    // Signals are for the threads that wait for them; this one only samples.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      int64_t now = MonotonicNs();
      int64_t next = std::numeric_limits<int64_t>::max();
      for (auto& entry : groups_) {
        Group& g = entry.second;
        if (g.members.empty()) continue;
        int64_t used = 0;
        for (auto m = g.members.begin(); m != g.members.end();) {
          int64_t cpu = CpuNs(m->clock);
          if (cpu < m->last_ns) {  // reaped (or the pid already names another process): dropped
            if (m->pidfd >= 0) close(m->pidfd);
            m = g.members.erase(m);
            continue;
          }
          used += cpu - m->last_ns;
          m->last_ns = cpu;
          ++m;
        }
        g.used_ns += used;
        bool run = g.budget.Charge(now, used);
        if (run == g.stopped) {
          for (const Member& m : g.members) Signal(m, run ? SIGCONT : SIGSTOP);
          g.stopped = !run;
        }
        if (!g.members.empty()) next = std::min(next, g.budget.NextCheck(now, max_cpus_));
      }
      if (next == std::numeric_limits<int64_t>::max()) {
        wake_.wait(lock);
      } else {
        wake_.wait_for(lock, std::chrono::nanoseconds(next - now));
      }
    }
  }

  const int max_cpus_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::string, Group> groups_;  // guarded by mu_
  uint64_t next_id_ = 1;                 // guarded by mu_
  bool stop_ = false;                    // guarded by mu_
  std::thread thread_;                   // started by the first Attach, under mu_
};

// ---- CpuLimiter ----

CpuLimiter::CpuLimiter() = default;
CpuLimiter::~CpuLimiter() = default;
CpuLimiter::CpuLimiter(CpuLimiter&&) noexcept = default;
CpuLimiter& CpuLimiter::operator=(CpuLimiter&&) noexcept = default;

CpuLimiter CpuLimiter::Detect(const std::string& group_name, const std::string& env_override) {
  return DetectUnder("", group_name, env_override);
}

CpuLimiter CpuLimiter::DetectUnder(const std::string& root, const std::string& group_name,
                                   const std::string& env_override) {
  CpuLimiter c;
  c.fs_root_ = root;
  if (env_override == "none") return c;
  if (env_override != "emulate") {
    const bool fake = !root.empty();
    // cgroup v2: the cpu controller offered to our children, and a group of ours to enable it in.
    if (HasWord(ReadSmall(root + "/sys/fs/cgroup/cgroup.controllers"), "cpu")) {
      RemoveDeadGroups(root + NormalizePath("/sys/fs/cgroup/" + OwnCgroup(root, "")), group_name);
      std::string dir =
          root + NormalizePath("/sys/fs/cgroup/" + OwnCgroup(root, "") + "/" + group_name);
      bool made = mkdir(dir.c_str(), 0755) == 0;
      if (made || errno == EEXIST) {
        if (WriteControl(dir + "/cgroup.subtree_control", "+cpu", fake)) {
          c.kind_ = CpuLimitKind::kCgroupV2;
          c.root_ = dir;
          return c;
        }
        if (made) rmdir(dir.c_str());  // an existing one is the memory limiter's
      }
    }
    // cgroup v1: the cpu hierarchy, with CFS bandwidth control.
    std::string own = OwnCgroup(root, "cpu");
    for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
      struct stat st;
      if (stat((root + mount + "/cpu.cfs_quota_us").c_str(), &st) != 0) continue;
      RemoveDeadGroups(root + NormalizePath(std::string(mount) + "/" + own), group_name);
      std::string dir = root + NormalizePath(std::string(mount) + "/" + own + "/" + group_name);
      if (mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) {
        c.kind_ = CpuLimitKind::kCgroupV1;
        c.root_ = dir;
        return c;
      }
      break;
    }
    if (env_override == "cgroup") return c;
  }
  c.kind_ = CpuLimitKind::kEmulated;
  c.duty_ = std::make_unique<DutyCycle>();
  return c;
}

const char* CpuLimiter::KindName() const {
  switch (kind_) {
    case CpuLimitKind::kCgroupV2:
      return "cgroup v2 cpu.max";
    case CpuLimitKind::kCgroupV1:
      return "cgroup v1 cpu.cfs_quota_us";
    case CpuLimitKind::kEmulated:
      return "emulated (SIGSTOP/SIGCONT duty cycle, 20 ms period)";
    case CpuLimitKind::kNone:
      return "none";
  }
  return "none";
}

StatusOr<std::string> CpuLimiter::CreateGroup(const std::string& instance, double cpus) const {
  if (!(cpus >= kMinCpus && cpus <= kMaxCpus)) {
    return InvalidArgumentError("a CPU share is in [0.05, 64], not " + Json::Double(cpus).Dump());
  }
  if (kind_ == CpuLimitKind::kNone) return std::string();
  if (kind_ == CpuLimitKind::kEmulated) return duty_->Create(instance, cpus);
  std::string dir = root_ + "/" + instance;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create cgroup " + dir + ": " + strerror(errno));
  }
  const bool fake = !fs_root_.empty();
  std::string quota = std::to_string(std::llround(cpus * kCgroupPeriodUs));
  std::string period = std::to_string(kCgroupPeriodUs);
  bool ok = kind_ == CpuLimitKind::kCgroupV2
                ? WriteControl(dir + "/cpu.max", quota + " " + period, fake)
                : WriteControl(dir + "/cpu.cfs_period_us", period, fake) &&
                      WriteControl(dir + "/cpu.cfs_quota_us", quota, fake);
  if (!ok) {
    int e = errno;
    rmdir(dir.c_str());
    return UnavailableError("cannot set the CPU quota of " + dir + ": " + strerror(e));
  }
  return dir;
}

std::string CpuLimiter::ChildProcsFile(const std::string& group) const {
  if (group.empty()) return "";
  if (kind_ != CpuLimitKind::kCgroupV2 && kind_ != CpuLimitKind::kCgroupV1) return "";
  return group + "/cgroup.procs";
}

Status CpuLimiter::Attach(const std::string& group, pid_t pid) const {
  if (group.empty() || kind_ == CpuLimitKind::kNone) return Status::Ok();
  if (kind_ == CpuLimitKind::kEmulated) return duty_->Attach(group, pid);
  std::string procs = group + "/cgroup.procs";
  int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC | (fs_root_.empty() ? 0 : O_CREAT), 0644);
  std::string text = std::to_string(pid);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int e = errno;
  if (fd >= 0) close(fd);
  if (ok) return Status::Ok();
  if (e == ESRCH) return NotFoundError("process " + text + " is gone");
  return UnavailableError("cannot move process " + text + " into " + procs + ": " + strerror(e));
}

void CpuLimiter::RemoveGroup(const std::string& group) const {
  if (group.empty()) return;
  if (kind_ == CpuLimitKind::kEmulated) {
    duty_->Remove(group);
  } else if (kind_ != CpuLimitKind::kNone) {
    rmdir(group.c_str());
  }
}

void CpuLimiter::RemoveRoot() const {
  if (!root_.empty()) rmdir(root_.c_str());
}

double CpuLimiter::UsedCpuSeconds(const std::string& group) const {
  if (group.empty()) return 0;
  switch (kind_) {
    case CpuLimitKind::kEmulated:
      return duty_->Used(group);
    case CpuLimitKind::kCgroupV2: {
      std::istringstream in(ReadSmall(group + "/cpu.stat"));
      std::string key;
      int64_t value;
      while (in >> key >> value) {
        if (key == "usage_usec") return static_cast<double>(value) / 1e6;
      }
      return 0;
    }
    case CpuLimitKind::kCgroupV1: {
      std::string usage = ReadSmall(group + "/cpuacct.usage");
      if (!usage.empty()) return static_cast<double>(strtoll(usage.c_str(), nullptr, 10)) / 1e9;
      // cpuacct mounted apart: the processes in the group now.
      std::istringstream in(ReadSmall(group + "/cgroup.procs"));
      int64_t total = 0;
      pid_t pid;
      while (in >> pid) total += std::max<int64_t>(0, ProcessCpuNs(pid));
      return static_cast<double>(total) / 1e9;
    }
    case CpuLimitKind::kNone:
      break;
  }
  return 0;
}

std::map<std::string, std::string> CpuLimiter::InstanceEnv(double cpus) const {
  if (kind_ == CpuLimitKind::kNone || cpus <= 0) return {};
  return {{"MODELFN_CPUS", Json::Double(cpus).Dump()}};
}

}  // namespace modelfn
