#include "pool/template_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "function/template_protocol.h"

namespace modelfn {
namespace {

// The descriptor the template finds its control socket on.
constexpr int kTemplateControlFd = 3;

// Waits up to timeout_ms for `pid` (a child) to exit, without reaping it. False on timeout or
// when the kernel has no pidfd (then the caller kills at once).
bool WaitExit(pid_t pid, int timeout_ms) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return false;
  pollfd p{pidfd, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  close(pidfd);
  return r > 0;
}

}  // namespace

Status BecomeChildSubreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return UnavailableError(std::string("PR_SET_CHILD_SUBREAPER: ") + strerror(errno));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<TemplateClient>> TemplateClient::Start(const TemplateSpec& spec,
                                                                const Clock* clock) {
  // Everything the child needs is built before fork: after fork only async-signal-safe calls.
  std::vector<std::string> argv_s{spec.binary};
  argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
  std::vector<std::string> env_s;
  for (const auto& [k, v] : spec.env) {
    if (k != kTemplateFdEnv) env_s.push_back(k + "=" + v);
  }
  env_s.push_back(std::string(kTemplateFdEnv) + "=" + std::to_string(kTemplateControlFd));
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  int log_fd = open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return UnavailableError("cannot open " + spec.log_path + ": " + strerror(errno));
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    int e = errno;
    close(log_fd);
    return UnavailableError(std::string("socketpair: ") + strerror(e));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    // Above every target first, so no dup2 below overwrites a source still needed.
    int log = fcntl(log_fd, F_DUPFD, 16);
    int control = fcntl(sv[1], F_DUPFD, 16);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    dup2(control, kTemplateControlFd);
    syscall(SYS_close_range, static_cast<unsigned>(kTemplateControlFd + 1), ~0U, 0U);
    execve(argv[0], argv.data(), envp.data());
    const char msg[] = "modelfn: cannot exec the template\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  }
  int fork_errno = errno;
  close(log_fd);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return UnavailableError(std::string("fork: ") + strerror(fork_errno));
  }
  return std::unique_ptr<TemplateClient>(new TemplateClient(pid, sv[0], clock));
}

TemplateClient::~TemplateClient() { Stop(); }

Status TemplateClient::WaitReady(int timeout_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ready_) return Status::Ok();
  if (!failed_.ok()) return failed_;
  if (control_fd_ < 0) return UnavailableError("the template was stopped");
  StatusOr<Packet> packet = RecvPacket(control_fd_, timeout_ms);
  if (!packet.ok()) {
    if (packet.status().code() == StatusCode::kDeadlineExceeded) return packet.status();
    failed_ = UnavailableError("the template ended before its init finished");
    return failed_;
  }
  for (int fd : packet->fds) close(fd);
  StatusOr<TemplateReply> reply = DecodeTemplateReply(packet->bytes);
  if (reply.ok() && reply->kind == TemplateReply::Kind::kReady) {
    ready_ = true;
    init_summary_ = reply->text;
    return Status::Ok();
  }
  if (reply.ok() && reply->kind == TemplateReply::Kind::kInitError) {
    failed_ = Status(StatusCode::kFailedPrecondition, reply->text,
                     reply->code.empty() ? "init_failed" : reply->code);
  } else {
    failed_ =
        InternalError("the template sent no ready line: " +
                      (reply.ok() ? std::string("unexpected reply") : reply.status().message()));
  }
  return failed_;
}

StatusOr<pid_t> TemplateClient::Fork(const InstanceSpec& spec, int timeout_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ready_) return FailedPreconditionError("the template is not ready");
  if (control_fd_ < 0) return UnavailableError("the template was stopped");
  ForkCommand cmd;
  cmd.requested_ns = clock_->MonotonicNanos();
  cmd.reaper_pid = getpid();
  cmd.env = spec.env;
  cmd.has_log_fd = spec.log_fd >= 0;
  cmd.has_ready_fd = spec.ready_fd >= 0;
  cmd.rlimit_as_bytes = spec.rlimit_as_bytes;
  cmd.cgroup_procs = spec.cgroup_procs;
  std::vector<int> fds;
  if (spec.log_fd >= 0) fds.push_back(spec.log_fd);
  if (spec.ready_fd >= 0) fds.push_back(spec.ready_fd);
  RETURN_IF_ERROR(SendPacket(control_fd_, EncodeForkCommand(cmd), fds));
  StatusOr<Packet> packet = RecvPacket(control_fd_, timeout_ms);
  if (!packet.ok()) {
    if (packet.status().code() == StatusCode::kNotFound) {
      return UnavailableError("the template is gone");
    }
    if (packet.status().code() == StatusCode::kDeadlineExceeded) {
      // A late answer would be taken for the next command's: this socket is done.
      close(control_fd_);
      control_fd_ = -1;
    }
    return packet.status();
  }
  for (int fd : packet->fds) close(fd);
  ASSIGN_OR_RETURN(TemplateReply reply, DecodeTemplateReply(packet->bytes));
  if (reply.kind == TemplateReply::Kind::kForked) return reply.pid;
  if (reply.kind == TemplateReply::Kind::kForkError) {
    StatusCode code = reply.code == "fork_failed"        ? StatusCode::kUnavailable
                      : reply.code == "template_threads" ? StatusCode::kFailedPrecondition
                                                         : StatusCode::kInvalidArgument;
    return Status(code, reply.text, reply.code);
  }
  return InternalError("unexpected reply from the template");
}

void TemplateClient::Stop(int grace_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (control_fd_ >= 0) {
    close(control_fd_);
    control_fd_ = -1;
  }
  if (pid_ <= 0) return;
  pid_t pid = pid_.exchange(-1);
  if (!WaitExit(pid, grace_ms)) kill(-pid, SIGKILL);
  kill(pid, SIGKILL);  // in case it had not yet made its group
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace modelfn
