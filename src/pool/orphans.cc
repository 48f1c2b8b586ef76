#include "pool/orphans.h"

#include <sys/wait.h>

#include <cerrno>
#include <mutex>
#include <unordered_set>

namespace modelfn {
namespace {

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}
std::unordered_set<pid_t>& Registered() {
  static auto* set = new std::unordered_set<pid_t>;
  return *set;
}

}  // namespace

void RegisterChild(pid_t pid) {
  if (pid <= 0) return;
  std::lock_guard<std::mutex> lock(Mu());
  Registered().insert(pid);
}

void ForgetChild(pid_t pid) {
  std::lock_guard<std::mutex> lock(Mu());
  Registered().erase(pid);
}

int ReapOrphans() {
  int reaped = 0;
  for (;;) {
    siginfo_t info{};
    // WNOWAIT: look without reaping, so a registered child's exit stays for its owner.
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
    pid_t pid = info.si_pid;
    {
      std::lock_guard<std::mutex> lock(Mu());
      if (Registered().count(pid) > 0) break;
    }
    if (waitpid(pid, nullptr, WNOHANG) != pid) break;
    ++reaped;
  }
  return reaped;
}

}  // namespace modelfn
