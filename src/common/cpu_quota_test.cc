#include "common/cpu_quota.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/files.h"

namespace modelfn {
namespace {

std::string MakeTree(const std::string& name) {
  std::string root = testing::TempDir() + "/" + name;
  for (const char* d : {"", "/proc", "/proc/self", "/sys", "/sys/fs", "/sys/fs/cgroup",
                        "/sys/fs/cgroup/app", "/sys/fs/cgroup/app/worker", "/sys/fs/cgroup/cpu"}) {
    mkdir((root + d).c_str(), 0755);
  }
  return root;
}

TEST(CpuQuotaTest, V2QuotaOfOwnCgroup) {
  std::string root = MakeTree("cg2");
  ASSERT_TRUE(WriteFileAtomic(root + "/proc/self/cgroup", "0::/app/worker\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/app/worker/cpu.max", "150000 100000\n").ok());
  CpuQuota q = ReadCpuQuota(root);
  EXPECT_DOUBLE_EQ(q.quota_cpus, 1.5);
  EXPECT_EQ(q.EffectiveCpus(), 2);
}

TEST(CpuQuotaTest, V2TightestAncestorWins) {
  std::string root = MakeTree("cg2b");
  ASSERT_TRUE(WriteFileAtomic(root + "/proc/self/cgroup", "0::/app/worker\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/app/worker/cpu.max", "max 100000\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/app/cpu.max", "50000 100000\n").ok());
  CpuQuota q = ReadCpuQuota(root);
  EXPECT_DOUBLE_EQ(q.quota_cpus, 0.5);
  EXPECT_EQ(q.EffectiveCpus(), 1);
}

TEST(CpuQuotaTest, V1OwnCgroupAndAncestors) {
  std::string root = MakeTree("cg1b");
  mkdir((root + "/sys/fs/cgroup/cpu/job").c_str(), 0755);
  ASSERT_TRUE(
      WriteFileAtomic(root + "/proc/self/cgroup", "4:memory:/x\n3:cpu,cpuacct:/job\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", "250000\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cpu/job/cpu.cfs_period_us", "100000\n").ok());
  CpuQuota q = ReadCpuQuota(root);
  EXPECT_DOUBLE_EQ(q.quota_cpus, 2.5);
  EXPECT_EQ(q.EffectiveCpus(), 3);
}

TEST(CpuQuotaTest, V1Fallback) {
  std::string root = MakeTree("cg1");
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "400000\n").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n").ok());
  EXPECT_EQ(ReadCpuQuota(root).EffectiveCpus(), 4);
}

TEST(CpuQuotaTest, NoQuotaUsesAffinity) {
  CpuQuota q;
  q.quota_cpus = 0;
  q.affinity_cpus = 3;
  EXPECT_EQ(q.EffectiveCpus(), 3);
  q.quota_cpus = 8;
  EXPECT_EQ(q.EffectiveCpus(), 3);
  EXPECT_GE(ReadCpuQuota().EffectiveCpus(), 1);
}

}  // namespace
}  // namespace modelfn
