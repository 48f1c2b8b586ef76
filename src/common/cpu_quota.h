// How many CPUs this process may really use: the cgroup CPU quota (v2 cpu.max, v1 cfs quota),
// bounded by the scheduler affinity mask. Containers (Cloud Run, Lambda, Knative) often see the
// host's cores in /proc but get a fraction of them; sizing threads from the host oversubscribes.
#pragma once

#include <string>

namespace modelfn {

struct CpuQuota {
  double quota_cpus = 0;  // cgroup quota in CPUs, 0 when unlimited or unknown
  int affinity_cpus = 1;  // CPUs in the affinity mask (>= 1)
  // Threads worth running: ceil(quota) when a quota is set, bounded by affinity; at least 1.
  int EffectiveCpus() const;
};

// Reads the quota from a filesystem rooted at `root` ("" for the real "/"), so tests can point it
// at a fake tree. Missing files mean "no quota". For the real root, MODELFN_CPUS (a share enforced
// without a cgroup, pool/cpu_limit.h) lowers the quota too.
CpuQuota ReadCpuQuota(const std::string& root = "");

// This process's path in a cgroup hierarchy, from `root`/proc/self/cgroup: cgroup v2's (the "0::"
// line) for an empty `controller`, else that of the v1 hierarchy holding `controller` ("cpu",
// "memory": "4:cpu,cpuacct:/x" holds cpu). "" when the file does not say.
std::string OwnCgroupPath(const std::string& root, const std::string& controller);

}  // namespace modelfn
