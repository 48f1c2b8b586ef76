#include "pool/cgroup_sweep.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace modelfn {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// A pid that no longer runs: a child forked and reaped.
pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

class CgroupSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = testing::TempDir() + "/cgroup-sweep-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    parent_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + parent_).c_str()); }
  std::string Make(const std::string& rel) {
    std::string p = parent_ + "/" + rel;
    EXPECT_EQ(mkdir(p.c_str(), 0755), 0) << p;
    return p;
  }
  std::string parent_;
};

TEST_F(CgroupSweepTest, RemovesTheGroupsOfDeadProcessesWithTheirInstancesAndNothingElse) {
  const std::string own = "modelfn-up-" + std::to_string(getpid());
  const std::string dead = "modelfn-up-" + std::to_string(DeadPid());
  const std::string live = "modelfn-up-" + std::to_string(getppid());
  Make(own);
  Make(own + "/i1");
  Make(dead);
  Make(dead + "/i1");
  Make(dead + "/i2");
  Make(live);
  Make("modelfn-plan-" + std::to_string(DeadPid()));  // another command's: not ours to sweep
  Make("modelfn-up-notapid");
  Make("system.slice");

  EXPECT_EQ(RemoveDeadGroups(parent_, own), 1);
  EXPECT_FALSE(Exists(parent_ + "/" + dead));
  EXPECT_TRUE(Exists(parent_ + "/" + own + "/i1"));
  EXPECT_TRUE(Exists(parent_ + "/" + live));
  EXPECT_TRUE(Exists(parent_ + "/modelfn-up-notapid"));
  EXPECT_TRUE(Exists(parent_ + "/system.slice"));
  EXPECT_EQ(RemoveDeadGroups(parent_, own), 0);  // nothing left to do
}

TEST_F(CgroupSweepTest, AGroupThatCannotBeRemovedIsLeftAndNotCounted) {
  // A plain folder holding a file stands for a cgroup that still holds a process: rmdir fails.
  const std::string dead = Make("modelfn-up-" + std::to_string(DeadPid()));
  Make("modelfn-up-" + std::to_string(DeadPid()) + "x");  // not a pid after the prefix
  ASSERT_EQ(system(("touch " + dead + "/cgroup.procs").c_str()), 0);
  EXPECT_EQ(RemoveDeadGroups(parent_, "modelfn-up-" + std::to_string(getpid())), 0);
  EXPECT_TRUE(Exists(dead));
}

TEST_F(CgroupSweepTest, AnOwnGroupNameWithoutAPidSweepsNothing) {
  const std::string dead = Make("modelfn-up-" + std::to_string(DeadPid()));
  EXPECT_EQ(RemoveDeadGroups(parent_, "modelfn-up"), 0);
  EXPECT_EQ(RemoveDeadGroups(parent_, "modelfn-up-"), 0);
  EXPECT_TRUE(Exists(dead));
  EXPECT_EQ(RemoveDeadGroups(parent_ + "/missing", "modelfn-up-1"), 0);
}

}  // namespace
}  // namespace modelfn
