// CPU limits for instances (a function's `cpus:`): every instance of the function gets that many
// CPUs' worth of time, enforced the way a cloud's size is (Lambda's CPU follows memory, Cloud Run
// has --cpu), by the first of these that works here:
//   - cgroup v2: a child group of ours with +cpu in its cgroup.subtree_control; an instance's
//     group gets cpu.max = "<quota_us> 100000";
//   - cgroup v1: the cpu hierarchy, <mount>/<our group>/<group_name>/<instance>, with
//     cpu.cfs_period_us = 100000 and cpu.cfs_quota_us = <quota_us>;
//   - the emulation, where no CPU controller is writable: one thread does what CFS bandwidth
//     control does, by duty cycle. Each group's budget grows by its quota every 20 ms period
//     (never above one period's quota); the CPU time its processes use (all their threads, read
//     from their CPU clocks, clock_getcpuclockid: nanoseconds where /proc/PID/stat counts 10 ms
//     ticks, too coarse for a 20 ms period) is taken from it; once spent the processes are
//     stopped (SIGSTOP, sent through a pidfd so that a reused pid is never hit) until a period
//     leaves the budget positive again (SIGCONT). An overrun between two samples is paid back in
//     the next periods, so the long-run share is the quota. Limits: its grain is the period (a
//     request is served in bursts of 20 ms x cpus); it stops every thread of the process at once;
//     a stopped process's in-flight request waits, and so do signals other than SIGKILL;
//     processes the instance starts itself are not limited.
// MODELFN_CPU_LIMIT (`env_override`) picks one: cgroup, emulate or none ("" chooses as above).
//
// Thread-safety: every method may be called from any thread; the limiter must outlive the
// processes it limits (its destructor resumes every process the emulation stopped).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace modelfn {

enum class CpuLimitKind { kCgroupV2, kCgroupV1, kEmulated, kNone };

// The emulation's bookkeeping for one group, as CFS bandwidth control keeps it: every period adds
// the quota to the budget (capped at one period's quota: unused time is not saved up), the CPU
// time used is taken from it, and the group may run while the budget is positive. Debt is capped
// at kMaxDebtPeriods quotas. Not thread-safe (the emulation's thread owns it); exposed for tests.
class CpuBudget {
 public:
  static constexpr int kMaxDebtPeriods = 10;
  CpuBudget(double cpus, int64_t period_ns);
  // Charges `used_ns` of CPU time, used since the previous call, at monotonic time `now_ns`
  // (non-decreasing; the first call starts the first period). Returns whether the group may run.
  bool Charge(int64_t now_ns, int64_t used_ns);
  // When to sample again: the next period's start while the budget is spent, else when the
  // budget could be spent by `max_cpus` busy CPUs (at least 1 ms on, at most the next period).
  int64_t NextCheck(int64_t now_ns, int max_cpus) const;
  int64_t budget_ns() const { return budget_ns_; }

 private:
  const int64_t quota_ns_;  // per period
  const int64_t period_ns_;
  int64_t period_start_ns_ = -1;
  int64_t budget_ns_ = 0;
};

class CpuLimiter {
 public:
  // Emulation period and quota rounding: cgroups count in microseconds of a 100 ms period.
  static constexpr int64_t kCgroupPeriodUs = 100'000;
  static constexpr int64_t kEmulationPeriodNs = 20'000'000;
  static constexpr double kMinCpus = 0.05, kMaxCpus = 64;

  // Finds how to limit CPU here, once per platform. `group_name` names the platform's group
  // (e.g. "modelfn-up-1234"); pass the MemoryLimiter's: under cgroup v2 a process is in one group,
  // so an instance's memory and CPU limits must be the same folder, and are. `env_override` is
  // MODELFN_CPU_LIMIT: "cgroup" (kNone when no CPU cgroup can be made), "emulate", "none", or ""
  // (anything else counts as ""). The platform's group folder is made here (a cgroup kind).
  static CpuLimiter Detect(const std::string& group_name, const std::string& env_override);
  // The same over a filesystem rooted at `root` ("" for "/"): tests point it at a fake tree, where
  // control files are created as they are written.
  static CpuLimiter DetectUnder(const std::string& root, const std::string& group_name,
                                const std::string& env_override);

  CpuLimiter();  // kNone
  ~CpuLimiter();
  CpuLimiter(CpuLimiter&&) noexcept;
  CpuLimiter& operator=(CpuLimiter&&) noexcept;

  CpuLimitKind kind() const { return kind_; }
  // How limits are enforced, for logs and /v1/status: "cgroup v2 cpu.max",
  // "cgroup v1 cpu.cfs_quota_us", "emulated (SIGSTOP/SIGCONT duty cycle, 20 ms period)", "none".
  const char* KindName() const;
  const std::string& root() const { return root_; }  // the platform's group folder (cgroups)

  // A group whose processes together get `cpus` CPUs (in [kMinCpus, kMaxCpus]). Returns its
  // handle: a cgroup kind's folder (<root>/<instance>), the emulation's own name for it (not a
  // path), or "" for kNone (nothing to join or remove). Errors: InvalidArgument for `cpus` out
  // of range; Unavailable when the cgroup cannot be made or its quota set (nothing is left).
  StatusOr<std::string> CreateGroup(const std::string& instance, double cpus) const;
  // The cgroup.procs file a process joins `group` through: a freshly forked child writes "0" to
  // it before exec (LaunchSpec::cpu_group_dir, ForkSpare, InstanceSpec::cgroup_procs). "" when
  // processes must be attached by the parent instead (emulation, kNone).
  std::string ChildProcsFile(const std::string& group) const;
  // Puts `pid` (with all its threads) in `group`, from the parent: cgroups write it to
  // cgroup.procs; the emulation starts duty-cycling it (a process it stops is resumed when it
  // leaves the group or the limiter ends). A no-op for "" or kNone. Errors: NotFound when the pid
  // is gone (or the emulation's group was removed), Unavailable otherwise.
  Status Attach(const std::string& group, pid_t pid) const;
  // Removes the group: a cgroup folder once empty (an instance removes it after its process was
  // reaped; failures are ignored), or the emulation's group, resuming its processes if stopped.
  void RemoveGroup(const std::string& group) const;
  void RemoveRoot() const;
  // CPU seconds used by the group's processes: cgroup v2 cpu.stat's usage_usec; cgroup v1
  // cpuacct.usage where cpuacct shares the hierarchy, else the CPU time of the processes now in
  // the group; the emulation's processes while they were attached. 0 when unknown.
  double UsedCpuSeconds(const std::string& group) const;

  // What an instance with a share of `cpus` is told, so ONNX Runtime and the HTTP workers size
  // themselves from it (common/cpu_quota.h reads MODELFN_CPUS): {"MODELFN_CPUS": "0.5"}. Empty
  // for kNone (nothing is enforced) or cpus <= 0.
  std::map<std::string, std::string> InstanceEnv(double cpus) const;

 private:
  class DutyCycle;
  CpuLimitKind kind_ = CpuLimitKind::kNone;
  std::string root_;
  std::string fs_root_;  // "" for the real filesystem; a fake tree in tests
  std::unique_ptr<DutyCycle> duty_;
};

}  // namespace modelfn
