#include "function/template_mode.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "function/template_protocol.h"

namespace modelfn {
namespace {

// The threads a template may have: its own one, and ThreadSanitizer's background thread, which
// its runtime stops and restarts around fork itself.
#if defined(__SANITIZE_THREAD__)
constexpr int kOwnThreads = 2;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int kOwnThreads = 2;
#else
constexpr int kOwnThreads = 1;
#endif
#else
constexpr int kOwnThreads = 1;
#endif

void Reply(int control_fd, TemplateReply::Kind kind, pid_t pid, std::string code,
           std::string text) {
  TemplateReply r;
  r.kind = kind;
  r.pid = pid;
  r.code = std::move(code);
  r.text = std::move(text);
  (void)SendPacket(control_fd, EncodeTemplateReply(r), {});
}

// In the new instance, before anything else of its own: what cannot go wrong quietly. The log
// is in place first so every later refusal lands in the instance's log.
void WriteLog(const std::string& msg) {
  std::string line = "modelfn-fn: " + msg + "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

// Moves the received descriptors to their places (log on 1 and 2, readiness pipe on 3) and
// closes every other descriptor the template held: its control socket, its log, anything ONNX
// Runtime or the loader left open. Returns the next free descriptor number.
int InstallDescriptors(const ForkCommand& cmd, const std::vector<int>& fds) {
  size_t i = 0;
  // Above every target first, so no dup2 below overwrites a source still needed.
  int log_fd = cmd.has_log_fd ? fcntl(fds[i++], F_DUPFD, 16) : -1;
  int ready_fd = cmd.has_ready_fd ? fcntl(fds[i++], F_DUPFD, 16) : -1;
  if (log_fd >= 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
  }
  int next = 3;
  if (ready_fd >= 0) dup2(ready_fd, next++);
  syscall(SYS_close_range, static_cast<unsigned>(next), ~0U, 0U);
  return next;
}

void ApplyEnvironment(const ForkCommand& cmd) {
  clearenv();
  for (const auto& [k, v] : cmd.env) setenv(k.c_str(), v.c_str(), 1);
  unsetenv(kTemplateFdEnv);
  if (cmd.has_ready_fd) {
    setenv("MODELFN_READY_FD", "3", 1);
  } else {
    unsetenv("MODELFN_READY_FD");
  }
}

// The instance's half of the double fork. `gate` reads EOF once the intermediate process
// `intermediate` has closed its descriptors on exit; the reparenting comes a moment later in the
// kernel's exit path, so the parent is watched until it changes.
ForkedStart BecomeInstance(int gate, pid_t intermediate, const ForkCommand& cmd,
                           const std::vector<int>& fds, const Clock& clock) {
  char c;
  while (read(gate, &c, 1) < 0 && errno == EINTR) {
  }
  close(gate);
  for (int i = 0; getppid() == intermediate && i < 100000; ++i) {
    timespec pause{0, 20000};
    nanosleep(&pause, nullptr);
  }
  ForkedStart start;
  start.forked_ns = clock.MonotonicNanos();
  start.requested_ns = cmd.requested_ns;
  InstallDescriptors(cmd, fds);
  // Set only now: a death signal set before the reparenting would fire when the intermediate
  // process exits. Checked after: the platform may have died in between.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != cmd.reaper_pid) {
    WriteLog("forked instance: its parent is pid " + std::to_string(getppid()) + ", not pid " +
             std::to_string(cmd.reaper_pid) +
             " (the platform gone, or not a child subreaper): exiting");
    _exit(1);
  }
  setpgid(0, 0);
  if (!cmd.cgroup_procs.empty()) {
    int fd = open(cmd.cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) {
      WriteLog("forked instance: cannot join " + cmd.cgroup_procs + ": " + strerror(errno));
      _exit(126);
    }
    close(fd);
  }
  if (cmd.rlimit_as_bytes > 0) {
    rlimit rl{static_cast<rlim_t>(cmd.rlimit_as_bytes), static_cast<rlim_t>(cmd.rlimit_as_bytes)};
    setrlimit(RLIMIT_AS, &rl);
  }
  ApplyEnvironment(cmd);
  // The serving path's own mask: its signals go to the thread that waits for them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigprocmask(SIG_SETMASK, &sigs, nullptr);
  start.env_ns = clock.MonotonicNanos();
  return start;
}

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) close(fd);
}

// Handles one fork command in the template. Sets *instance (and returns true) only in the new
// instance process.
bool HandleFork(int control_fd, const Packet& packet, const std::string& model, const Clock& clock,
                ForkedStart* instance) {
  StatusOr<ForkCommand> cmd = DecodeForkCommand(packet.bytes);
  if (!cmd.ok()) {
    CloseAll(packet.fds);
    Reply(control_fd, TemplateReply::Kind::kForkError, 0, "bad_request", cmd.status().message());
    return false;
  }
  size_t want = (cmd->has_log_fd ? 1 : 0) + (cmd->has_ready_fd ? 1 : 0);
  if (packet.fds.size() != want) {
    CloseAll(packet.fds);
    Reply(control_fd, TemplateReply::Kind::kForkError, 0, "bad_request",
          "the fork command names " + std::to_string(want) + " descriptors and carries " +
              std::to_string(packet.fds.size()));
    return false;
  }
  // Checked at every fork, not only at ready: nothing in the template may have started a thread
  // since.
  if (int threads = CountThreads(); threads != kOwnThreads) {
    CloseAll(packet.fds);
    Reply(control_fd, TemplateReply::Kind::kForkError, 0, "template_threads",
          "the template has " + std::to_string(threads) + " threads: instances must be exec'd");
    return false;
  }
  // The session in this process is the one model: an instance asked to serve another must exec.
  auto m = cmd->env.find("MODELFN_MODEL");
  if (m != cmd->env.end() && m->second != model) {
    CloseAll(packet.fds);
    Reply(control_fd, TemplateReply::Kind::kForkError, 0, "model_mismatch",
          "this template holds " + model + ", not " + m->second);
    return false;
  }
  int pid_pipe[2];
  if (pipe2(pid_pipe, O_CLOEXEC) != 0) {
    CloseAll(packet.fds);
    Reply(control_fd, TemplateReply::Kind::kForkError, 0, "fork_failed",
          std::string("pipe: ") + strerror(errno));
    return false;
  }
  pid_t template_pid = getpid();
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t mid = fork();
  if (mid == 0) {
    close(pid_pipe[0]);
    int gate[2];
    pid_t pid = -1;
    if (pipe2(gate, O_CLOEXEC) == 0) {
      pid_t intermediate = getpid();
      pid = fork();
      if (pid == 0) {
        close(gate[1]);
        close(pid_pipe[1]);
        *instance = BecomeInstance(gate[0], intermediate, *cmd, packet.fds, clock);
        instance->template_pid = template_pid;
        return true;
      }
    }
    int err = errno;
    int32_t msg[2] = {static_cast<int32_t>(pid), err};
    ssize_t ignored = write(pid_pipe[1], msg, sizeof msg);
    (void)ignored;
    _exit(0);
  }
  int fork_errno = errno;
  close(pid_pipe[1]);
  int32_t msg[2] = {-1, 0};
  if (mid > 0) {
    ssize_t n;
    do {
      n = read(pid_pipe[0], msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
    if (n != sizeof msg) msg[0] = -1;
    while (waitpid(mid, nullptr, 0) < 0 && errno == EINTR) {
    }
  } else {
    msg[1] = fork_errno;
  }
  close(pid_pipe[0]);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  CloseAll(packet.fds);
  if (msg[0] > 0) {
    Reply(control_fd, TemplateReply::Kind::kForked, msg[0], "", "");
  } else {
    Reply(control_fd, TemplateReply::Kind::kForkError, 0, "fork_failed",
          std::string("fork: ") + strerror(msg[1]));
  }
  return false;
}

}  // namespace

int CountThreads() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

StatusOr<ForkedStart> ServeForkCommands(int control_fd, const std::string& model,
                                        const std::string& init_line, const EventLog& log,
                                        const Clock& clock) {
  int threads = CountThreads();
  if (threads != kOwnThreads) {
    std::string why = "template mode refused: this process has " + std::to_string(threads) +
                      " threads and fork copies only one (ONNX Runtime keeps a thread pool when "
                      "MODELFN_ORT_INTRA_OP_THREADS > 1); instances must be exec'd";
    log.Message("error", why);
    Reply(control_fd, TemplateReply::Kind::kInitError, 0, "template_threads", why);
    return Status(StatusCode::kFailedPrecondition, why, "template_threads");
  }
  // SIGTERM ends the template at once: it has nothing to drain. The forked instances are not
  // its children and live on.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  sigprocmask(SIG_UNBLOCK, &term, nullptr);
  // A rehearsal of the double fork, so the first instance does not pay the first touch of the
  // fork path (measured: 1-4 ms more for the first fork than the next ones).
  int64_t t0 = clock.MonotonicNanos();
  pid_t rehearsal = fork();
  if (rehearsal == 0) {
    pid_t inner = fork();
    if (inner > 0) waitpid(inner, nullptr, 0);
    _exit(0);
  }
  if (rehearsal > 0) waitpid(rehearsal, nullptr, 0);
  {
    EventLog::Line line = log.Begin("template_ready");
    line.w().Key("threads").Int(threads);
    line.w()
        .Key("rehearsal_fork_ms")
        .Double(static_cast<double>(clock.MonotonicNanos() - t0) / 1e6);
    log.Emit(line);
  }
  Reply(control_fd, TemplateReply::Kind::kReady, getpid(), "", init_line);
  while (true) {
    StatusOr<Packet> packet = RecvPacket(control_fd, -1);
    if (!packet.ok()) return packet.status();
    ForkedStart start;
    if (HandleFork(control_fd, *packet, model, clock, &start)) return start;
  }
}

void ReportTemplateInitError(int control_fd, const Status& status) {
  std::string code = status.reason().empty() ? "init_failed" : status.reason();
  Reply(control_fd, TemplateReply::Kind::kInitError, 0, code, status.ToString());
}

}  // namespace modelfn
