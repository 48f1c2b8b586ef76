#include "pool/orphans.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "gtest/gtest.h"

namespace modelfn {
namespace {

// A child that exits at once; returns once it has exited, still unreaped.
pid_t ExitedChild() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  siginfo_t info{};
  EXPECT_EQ(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), 0);
  return pid;
}

TEST(OrphansTest, ReapsWhatNobodyRegisteredAndLeavesTheRest) {
  ReapOrphans();  // what earlier tests in this process left
  pid_t mine = ExitedChild();
  RegisterChild(mine);
  // A registered exit stays for its owner, and blocks nothing once the owner has it.
  EXPECT_EQ(ReapOrphans(), 0);
  EXPECT_EQ(waitpid(mine, nullptr, WNOHANG), mine);
  ForgetChild(mine);

  pid_t orphan = ExitedChild();
  EXPECT_EQ(ReapOrphans(), 1);
  errno = 0;
  EXPECT_EQ(waitpid(orphan, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(ReapOrphans(), 0);
}

}  // namespace
}  // namespace modelfn
