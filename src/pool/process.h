// Child processes for instances: fork + exec with an explicit environment, output appended to a
// log file, an optional readiness pipe, and a memory limit. The memory limit uses, in order of
// preference, a cgroup v2 memory controller, a cgroup v1 memory controller (both where this
// process may create child groups), or RLIMIT_AS (address space, which over-counts: the honest
// fallback when no cgroup is writable).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelfn {

enum class MemoryLimitKind { kCgroupV2, kCgroupV1, kRlimit, kNone };
const char* MemoryLimitName(MemoryLimitKind k);

// Where instance memory groups go. Detect() finds a writable memory controller once per platform.
class MemoryLimiter {
 public:
  // `group_name` names the platform's group (e.g. "modelfn-up-1234"). MODELFN_MEMORY_LIMIT=rlimit
  // or =none in `env_override` forces a kind (tests of the fallback).
  static MemoryLimiter Detect(const std::string& group_name, const std::string& env_override);
  MemoryLimitKind kind() const { return kind_; }
  const std::string& root() const { return root_; }  // the platform's group folder (cgroups)

  // Creates the instance's group with its limit; returns its folder ("" for rlimit/none).
  StatusOr<std::string> CreateGroup(const std::string& instance, int64_t limit_bytes) const;
  // True when the kernel's OOM killer has killed a process of this group.
  bool OomKilled(const std::string& group_dir) const;
  // Peak memory of the group in bytes (0 when unknown).
  int64_t PeakBytes(const std::string& group_dir) const;
  void RemoveGroup(const std::string& group_dir) const;
  void RemoveRoot() const;

 private:
  MemoryLimitKind kind_ = MemoryLimitKind::kNone;
  std::string root_;
};

struct LaunchSpec {
  std::string binary;
  std::vector<std::string> args;           // argv[1..]
  std::map<std::string, std::string> env;  // the whole environment of the child
  std::string log_path;                    // stdout and stderr are appended here
  std::string group_dir;                   // cgroup folder to join before exec ("" = none)
  std::string cpu_group_dir;               // and the CPU limit's, when another (cgroup v1)
  int64_t rlimit_as_bytes = 0;             // > 0: RLIMIT_AS of the child
  bool ready_pipe = false;                 // child gets MODELFN_READY_FD=3
};

struct Launched {
  pid_t pid = -1;
  int ready_fd = -1;  // read end of the readiness pipe, or -1
};

// Errors: Unavailable when the log cannot be opened or fork fails. An exec failure shows up as the
// child exiting with status 127 (and a line in its log).
StatusOr<Launched> LaunchProcess(const LaunchSpec& spec);

// A child forked ahead of time that has already joined its memory cgroup and waits to be told
// what to exec. Joining a cgroup costs the joining process ~13 ms (measured on cgroup v1 here:
// the kernel waits for an RCU grace period), so a spare keeps that off the cold-start path.
struct Spare {
  pid_t pid = -1;
  int cmd_fd = -1;    // write end: the program to exec
  int ready_fd = -1;  // read end of the readiness pipe, or -1
  std::string group_dir;
  std::string cpu_group_dir;  // the CPU limit's cgroup (cpu_limit.h), "" for none
};

// Forks the spare: stdout/stderr to `log_path`, in `group_dir` and `cpu_group_dir` (either may be
// "", or both the same folder), with a readiness pipe on fd 3 when asked. Errors: Unavailable.
StatusOr<Spare> ForkSpare(const std::string& log_path, const std::string& group_dir,
                          bool ready_pipe, const std::string& cpu_group_dir = "");
// Sends the spare its program (binary, argv[1..], the whole environment) and lets it exec. Takes
// ownership of cmd_fd. Errors: Unavailable when the spare has died.
Status ExecSpare(Spare* spare, const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env);
// Kills and reaps an unused spare and closes its descriptors (not its group).
void DiscardSpare(Spare* spare);

// Reads the readiness line ("PORT\n") within timeout_ms. NotFound when the pipe closed first
// (the child died or failed init), DeadlineExceeded on timeout.
StatusOr<std::string> ReadReadyLine(int fd, int timeout_ms);

// Leftovers of a platform that died without stopping its instances. Each instance dies with the
// platform (PR_SET_PDEATHSIG), but what an instance started itself (a user command's helpers)
// survives in the instance's process group. While an instance runs its group is recorded in
// `dir` (a file named by the group id, holding the leader's start time); a platform starting on
// the same state folder kills the groups whose record outlived their platform. Best effort: the
// records are advisory and errors are ignored. "" disables them.
void RecordInstance(const std::string& dir, pid_t pgid);
void ForgetInstance(const std::string& dir, pid_t pgid);
// Kills (SIGKILL) the recorded groups whose leader is gone or no longer has a running platform
// (a process with this one's command name) as its parent, and drops their records. Groups of a
// platform still running are left alone. Returns how many groups were killed.
int KillLeftoverInstances(const std::string& dir);

// The environment passed through from this process to instances: PATH, HOME, TMPDIR, LANG, TZ,
// LD_LIBRARY_PATH, the sanitizers' options (ASAN_, LSAN_, UBSAN_, TSAN_OPTIONS), and the cloud
// credential and endpoint variables (AWS_*, AZURE_*, AZURITE_*, GOOGLE_*, STORAGE_EMULATOR_HOST,
// MODELFN_*).
std::map<std::string, std::string> PassThroughEnv();

}  // namespace modelfn
