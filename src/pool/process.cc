#include "pool/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/cpu_quota.h"
#include "common/files.h"
#include "pool/cgroup_sweep.h"

extern char** environ;

namespace modelfn {
namespace {

bool WriteSmallFile(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, value.data(), value.size());
  close(fd);
  return n == static_cast<ssize_t>(value.size());
}

std::string ReadSmall(const std::string& path) {
  auto s = ReadFile(path);
  return s.ok() ? *s : "";
}

// "key N" in a flat-keyed file such as memory.events.
int64_t KeyedValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  int64_t v;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// Every instance is forked by this one thread, which lives as long as the process. The kernel
// sends PR_SET_PDEATHSIG when the *thread* that forked the child ends, not the process: a child
// forked by a request thread, a timer thread or a thread pool's worker would be killed when that
// thread exits. Forking here ties each instance's life to the platform process alone.
class Launcher {
 public:
  // Runs fork() on the launcher thread; in the child, `child` runs (it must not return). Returns
  // the pid, or -1 with errno set as fork left it.
  static pid_t Fork(const std::function<void()>& child) {
    // Never destroyed: its thread never ends. A forked copy of this process has no launcher
    // thread, so it makes its own.
    static std::mutex mu;
    static Launcher* launcher = nullptr;
    static pid_t owner = 0;
    Launcher* l;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (owner != getpid()) {
        launcher = new Launcher;
        owner = getpid();
      }
      l = launcher;
    }
    return l->Run(child);
  }

 private:
  struct Job {
    const std::function<void()>* child;
    pid_t pid = 0;
    int error = 0;
    bool done = false;
  };

  Launcher() {
    std::thread([this] { Loop(); }).detach();
  }

  pid_t Run(const std::function<void()>& child) {
    Job job{&child};
    std::unique_lock<std::mutex> lock(mu_);
    jobs_.push_back(&job);
    wake_.notify_all();
    finished_.wait(lock, [&] { return job.done; });
    errno = job.error;
    return job.pid;
  }

  void Loop() {
    // Signals are for the threads that wait for them; this one only forks.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      wake_.wait(lock, [&] { return !jobs_.empty(); });
      Job* job = jobs_.front();
      jobs_.pop_front();
      pid_t pid = fork();
      if (pid == 0) {
        (*job->child)();
        _exit(127);
      }
      job->pid = pid;
      job->error = pid < 0 ? errno : 0;
      job->done = true;
      finished_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, finished_;
  std::deque<Job*> jobs_;
};

// In a freshly forked child (async-signal-safe calls only): killed with the platform (`parent` is
// its pid; a parent already gone means the signal was set too late); its own process group, so a
// kill reaches anything it spawns; default signal handling; the memory group joined (`procs` is
// its cgroup.procs, or null) and the CPU limit's (`cpu_procs`, likewise); stdin from /dev/null,
// stdout and stderr to the log, the readiness pipe on fd 3 when there is one, and `extra` (if >= 0)
// on the next descriptor. Everything else of the platform's (sockets, pipes) is closed. Returns the
// descriptor `extra` landed on.
int SetUpChild(pid_t parent, const char* procs, const char* cpu_procs, int log_fd, int ready_fd,
               int extra) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  for (const char* join : {procs, cpu_procs}) {
    if (join == nullptr) continue;
    int fd = open(join, O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(126);
    close(fd);
  }
  // Move the sources above the targets first, so no dup2 below overwrites one still needed.
  log_fd = fcntl(log_fd, F_DUPFD, 16);
  if (ready_fd >= 0) ready_fd = fcntl(ready_fd, F_DUPFD, 16);
  if (extra >= 0) extra = fcntl(extra, F_DUPFD, 16);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  dup2(log_fd, 1);
  dup2(log_fd, 2);
  int next = 3;
  if (ready_fd >= 0) dup2(ready_fd, next++);
  int moved = extra >= 0 ? dup2(extra, next++) : -1;
  for (int fd = next; fd < 1024; ++fd) close(fd);
  return moved;
}

// The cgroup.procs of the CPU limit's group, "" when there is none or it is the memory group
// (cgroup v2: one group holds both limits, joined once).
std::string CpuProcs(const std::string& group_dir, const std::string& cpu_group_dir) {
  if (cpu_group_dir.empty() || cpu_group_dir == group_dir) return "";
  return cpu_group_dir + "/cgroup.procs";
}

}  // namespace

const char* MemoryLimitName(MemoryLimitKind k) {
  switch (k) {
    case MemoryLimitKind::kCgroupV2:
      return "cgroup2";
    case MemoryLimitKind::kCgroupV1:
      return "cgroup1";
    case MemoryLimitKind::kRlimit:
      return "rlimit_as";
    case MemoryLimitKind::kNone:
      return "none";
  }
  return "none";
}

MemoryLimiter MemoryLimiter::Detect(const std::string& group_name,
                                    const std::string& env_override) {
  MemoryLimiter m;
  if (env_override == "none") return m;
  if (env_override != "rlimit") {
    // cgroup v2: a child group of ours with the memory controller enabled for its children.
    std::string ctrls = ReadSmall("/sys/fs/cgroup/cgroup.controllers");
    if (ctrls.find("memory") != std::string::npos) {
      std::string own = OwnCgroupPath("", "");
      RemoveDeadGroups(NormalizePath("/sys/fs/cgroup/" + own), group_name);
      std::string dir = NormalizePath("/sys/fs/cgroup/" + own + "/" + group_name);
      if (mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) {
        if (WriteSmallFile(dir + "/cgroup.subtree_control", "+memory")) {
          m.kind_ = MemoryLimitKind::kCgroupV2;
          m.root_ = dir;
          return m;
        }
        rmdir(dir.c_str());
      }
    }
    // cgroup v1 memory controller.
    std::string own = OwnCgroupPath("", "memory");
    struct stat st;
    if (!own.empty() && stat("/sys/fs/cgroup/memory", &st) == 0) {
      RemoveDeadGroups(NormalizePath("/sys/fs/cgroup/memory/" + own), group_name);
      std::string dir = NormalizePath("/sys/fs/cgroup/memory/" + own + "/" + group_name);
      if (mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) {
        m.kind_ = MemoryLimitKind::kCgroupV1;
        m.root_ = dir;
        return m;
      }
    }
  }
  m.kind_ = MemoryLimitKind::kRlimit;
  return m;
}

StatusOr<std::string> MemoryLimiter::CreateGroup(const std::string& instance,
                                                 int64_t limit_bytes) const {
  if (kind_ != MemoryLimitKind::kCgroupV2 && kind_ != MemoryLimitKind::kCgroupV1)
    return std::string();
  std::string dir = root_ + "/" + instance;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create cgroup " + dir + ": " + strerror(errno));
  }
  std::string v = std::to_string(limit_bytes);
  bool ok;
  if (kind_ == MemoryLimitKind::kCgroupV2) {
    ok = WriteSmallFile(dir + "/memory.max", v);
    WriteSmallFile(dir + "/memory.swap.max", "0");
  } else {
    ok = WriteSmallFile(dir + "/memory.limit_in_bytes", v);
    WriteSmallFile(dir + "/memory.memsw.limit_in_bytes", v);  // no swapping past the limit
  }
  if (!ok) {
    rmdir(dir.c_str());
    return UnavailableError("cannot set the memory limit of " + dir);
  }
  return dir;
}

bool MemoryLimiter::OomKilled(const std::string& group_dir) const {
  if (group_dir.empty()) return false;
  if (kind_ == MemoryLimitKind::kCgroupV2) {
    return KeyedValue(ReadSmall(group_dir + "/memory.events"), "oom_kill") > 0;
  }
  if (kind_ == MemoryLimitKind::kCgroupV1) {
    std::string oc = ReadSmall(group_dir + "/memory.oom_control");
    if (KeyedValue(oc, "oom_kill") > 0) return true;
    return atoll(ReadSmall(group_dir + "/memory.failcnt").c_str()) > 0 &&
           KeyedValue(oc, "under_oom") > 0;
  }
  return false;
}

int64_t MemoryLimiter::PeakBytes(const std::string& group_dir) const {
  if (group_dir.empty()) return 0;
  if (kind_ == MemoryLimitKind::kCgroupV2)
    return atoll(ReadSmall(group_dir + "/memory.peak").c_str());
  if (kind_ == MemoryLimitKind::kCgroupV1) {
    return atoll(ReadSmall(group_dir + "/memory.max_usage_in_bytes").c_str());
  }
  return 0;
}

void MemoryLimiter::RemoveGroup(const std::string& group_dir) const {
  if (!group_dir.empty()) rmdir(group_dir.c_str());
}

void MemoryLimiter::RemoveRoot() const {
  if (!root_.empty()) rmdir(root_.c_str());
}

StatusOr<Launched> LaunchProcess(const LaunchSpec& spec) {
  // Everything the child needs is built before fork: after fork only async-signal-safe calls.
  std::vector<std::string> argv_s;
  argv_s.push_back(spec.binary);
  for (const auto& a : spec.args) argv_s.push_back(a);
  std::vector<std::string> env_s;
  for (const auto& [k, v] : spec.env) env_s.push_back(k + "=" + v);
  if (spec.ready_pipe) env_s.push_back("MODELFN_READY_FD=3");
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string procs = spec.group_dir.empty() ? "" : spec.group_dir + "/cgroup.procs";
  std::string cpu_procs = CpuProcs(spec.group_dir, spec.cpu_group_dir);

  int log_fd = open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return UnavailableError("cannot open " + spec.log_path + ": " + strerror(errno));
  }
  int pipefd[2] = {-1, -1};
  if (spec.ready_pipe && pipe2(pipefd, O_CLOEXEC) != 0) {
    close(log_fd);
    return UnavailableError(std::string("pipe: ") + strerror(errno));
  }
  pid_t parent = getpid();
  pid_t pid = Launcher::Fork([&] {
    SetUpChild(parent, procs.empty() ? nullptr : procs.c_str(),
               cpu_procs.empty() ? nullptr : cpu_procs.c_str(), log_fd, pipefd[1], -1);
    if (spec.rlimit_as_bytes > 0) {
      rlimit rl{static_cast<rlim_t>(spec.rlimit_as_bytes),
                static_cast<rlim_t>(spec.rlimit_as_bytes)};
      setrlimit(RLIMIT_AS, &rl);
    }
    execve(argv[0], argv.data(), envp.data());
    const char msg[] = "modelfn up: cannot exec the function binary\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  });
  if (pid < 0) {
    int e = errno;
    close(log_fd);
    if (pipefd[0] >= 0) close(pipefd[0]), close(pipefd[1]);
    return UnavailableError(std::string("fork: ") + strerror(e));
  }
  close(log_fd);
  Launched l;
  l.pid = pid;
  if (pipefd[1] >= 0) close(pipefd[1]);
  l.ready_fd = pipefd[0];
  return l;
}

StatusOr<Spare> ForkSpare(const std::string& log_path, const std::string& group_dir,
                          bool ready_pipe, const std::string& cpu_group_dir) {
  // Preallocated before fork: the child only reads, splits and execs (async-signal-safe).
  constexpr size_t kBuf = 1 << 20;
  constexpr size_t kPtrs = 8192;
  std::vector<char> buf(kBuf + 2, '\0');
  std::vector<char*> ptrs(kPtrs, nullptr);
  std::string procs = group_dir.empty() ? "" : group_dir + "/cgroup.procs";
  std::string cpu_procs = CpuProcs(group_dir, cpu_group_dir);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return UnavailableError("cannot open " + log_path + ": " + strerror(errno));
  int cmd[2];
  if (pipe2(cmd, O_CLOEXEC) != 0) {
    close(log_fd);
    return UnavailableError(std::string("pipe: ") + strerror(errno));
  }
  int ready[2] = {-1, -1};
  if (ready_pipe && pipe2(ready, O_CLOEXEC) != 0) {
    close(log_fd), close(cmd[0]), close(cmd[1]);
    return UnavailableError(std::string("pipe: ") + strerror(errno));
  }
  pid_t parent = getpid();
  pid_t pid = Launcher::Fork([&] {
    int in = SetUpChild(parent, procs.empty() ? nullptr : procs.c_str(),
                        cpu_procs.empty() ? nullptr : cpu_procs.c_str(), log_fd, ready[1], cmd[0]);
    // "binary\0arg\0...\0\0NAME=value\0...\0\0", then EOF.
    size_t len = 0;
    while (len < kBuf) {
      ssize_t n = read(in, buf.data() + len, kBuf - len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      len += static_cast<size_t>(n);
    }
    if (len == 0) _exit(0);  // discarded
    close(in);
    size_t p = 0, k = 0;
    char** argv = ptrs.data();
    while (p < len && buf[p] != '\0' && k < kPtrs / 2) {
      argv[k++] = buf.data() + p;
      while (p < len && buf[p] != '\0') ++p;
      ++p;
    }
    argv[k++] = nullptr;
    ++p;
    char** envp = ptrs.data() + k;
    size_t e = 0;
    while (p < len && buf[p] != '\0' && k + e + 1 < kPtrs) {
      envp[e++] = buf.data() + p;
      while (p < len && buf[p] != '\0') ++p;
      ++p;
    }
    envp[e] = nullptr;
    execve(argv[0], argv, envp);
    const char msg[] = "modelfn up: cannot exec the function binary\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  });
  if (pid < 0) {
    int e = errno;
    close(log_fd), close(cmd[0]), close(cmd[1]);
    if (ready[0] >= 0) close(ready[0]), close(ready[1]);
    return UnavailableError(std::string("fork: ") + strerror(e));
  }
  close(log_fd);
  close(cmd[0]);
  if (ready[1] >= 0) close(ready[1]);
  Spare s;
  s.pid = pid;
  s.cmd_fd = cmd[1];
  s.ready_fd = ready[0];
  s.group_dir = group_dir;
  s.cpu_group_dir = cpu_group_dir;
  return s;
}

Status ExecSpare(Spare* spare, const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env) {
  std::string msg = binary;
  msg.push_back('\0');
  for (const auto& a : args) {
    msg += a;
    msg.push_back('\0');
  }
  msg.push_back('\0');
  for (const auto& [k, v] : env) {
    msg += k + "=" + v;
    msg.push_back('\0');
  }
  if (spare->ready_fd >= 0) {
    msg += "MODELFN_READY_FD=3";
    msg.push_back('\0');
  }
  msg.push_back('\0');
  size_t off = 0;
  while (off < msg.size()) {
    ssize_t n = write(spare->cmd_fd, msg.data() + off, msg.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(spare->cmd_fd);
      spare->cmd_fd = -1;
      return UnavailableError("the spare process is gone");
    }
    off += static_cast<size_t>(n);
  }
  close(spare->cmd_fd);
  spare->cmd_fd = -1;
  return Status::Ok();
}

void DiscardSpare(Spare* spare) {
  if (spare->cmd_fd >= 0) close(spare->cmd_fd);  // EOF: the spare exits by itself
  if (spare->pid > 0) {
    kill(spare->pid, SIGKILL);
    waitpid(spare->pid, nullptr, 0);
  }
  if (spare->ready_fd >= 0) close(spare->ready_fd);
  spare->cmd_fd = spare->ready_fd = -1;
  spare->pid = -1;
}

StatusOr<std::string> ReadReadyLine(int fd, int timeout_ms) {
  std::string line;
  char buf[64];
  while (line.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return Status(StatusCode::kDeadlineExceeded, "the instance did not become ready");
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return NotFoundError("the instance exited before it was ready");
    line.append(buf, static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

namespace {

// Fields of /proc/<pid>/stat: the command name, the parent, and the start time in clock ticks
// since boot (which tells a process from a later one that reused its pid). False when gone.
bool ReadProcStat(pid_t pid, std::string* comm, pid_t* ppid, uint64_t* start) {
  std::string stat = ReadSmall("/proc/" + std::to_string(pid) + "/stat");
  size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  if (comm) *comm = stat.substr(open + 1, close - open - 1);
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && in >> field; ++i) {
    if (i == 4 && ppid) *ppid = static_cast<pid_t>(atoll(field.c_str()));
    if (i == 22) {
      if (start) *start = strtoull(field.c_str(), nullptr, 10);
      return true;
    }
  }
  return false;
}

}  // namespace

void RecordInstance(const std::string& dir, pid_t pgid) {
  uint64_t start = 0;
  if (dir.empty() || !ReadProcStat(pgid, nullptr, nullptr, &start)) return;
  std::string path = dir + "/" + std::to_string(pgid);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string text = std::to_string(start) + "\n";
  ssize_t ignored = write(fd, text.data(), text.size());
  (void)ignored;
  close(fd);
}

void ForgetInstance(const std::string& dir, pid_t pgid) {
  if (!dir.empty()) unlink((dir + "/" + std::to_string(pgid)).c_str());
}

int KillLeftoverInstances(const std::string& dir) {
  std::string platform_comm;
  if (dir.empty() || !ReadProcStat(getpid(), &platform_comm, nullptr, nullptr)) return 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  int killed = 0;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pgid = strtol(e->d_name, &end, 10);
    if (pgid <= 1 || end == e->d_name || *end != '\0') continue;
    std::string path = dir + "/" + e->d_name;
    uint64_t recorded = strtoull(ReadSmall(path).c_str(), nullptr, 10);
    std::string comm;
    pid_t ppid = 0;
    uint64_t start = 0;
    bool leader = ReadProcStat(static_cast<pid_t>(pgid), &comm, &ppid, &start);
    bool kill_group = false;
    if (!leader) {
      // The leader died (with its platform); members of its group may remain. The group id
      // cannot have been reused while any member lives, so whatever is in it is ours.
      kill_group = true;
    } else if (start == recorded) {
      std::string parent_comm;
      bool parent = ReadProcStat(ppid, &parent_comm, nullptr, nullptr);
      kill_group = !(parent && ppid > 1 && parent_comm == platform_comm);
    }
    // else: the pid now names another process; the record is stale.
    if (kill_group && kill(-static_cast<pid_t>(pgid), SIGKILL) == 0) ++killed;
    if (kill_group || !leader || start != recorded) unlink(path.c_str());
  }
  closedir(d);
  return killed;
}

std::map<std::string, std::string> PassThroughEnv() {
  std::map<std::string, std::string> out;
  static const char* kExact[] = {"PATH",
                                 "HOME",
                                 "TMPDIR",
                                 "LANG",
                                 "TZ",
                                 "LD_LIBRARY_PATH",
                                 "STORAGE_EMULATOR_HOST",
                                 "ASAN_OPTIONS",
                                 "LSAN_OPTIONS",
                                 "UBSAN_OPTIONS",
                                 "TSAN_OPTIONS"};
  static const char* kPrefixes[] = {"AWS_", "AZURE_", "AZURITE_", "GOOGLE_", "MODELFN_", "GCS_"};
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string k = kv.substr(0, eq);
    bool keep = false;
    for (const char* x : kExact) keep = keep || k == x;
    for (const char* p : kPrefixes) keep = keep || k.rfind(p, 0) == 0;
    // The platform's own descriptors mean nothing to an instance (and a template fd would turn an
    // exec'd instance into a template).
    if (keep && k != "MODELFN_READY_FD" && k != "MODELFN_TEMPLATE_FD") out[k] = kv.substr(eq + 1);
  }
  return out;
}

}  // namespace modelfn
