// Removal of the cgroups that a killed process of ours left behind.
//
// `modelfn up` (and `modelfn plan profile`, `modelfn invoke`) make a group of their own under
// their cgroup, named PREFIX-PID (e.g. modelfn-up-4242), with a group per instance inside it, and
// remove them when they end. A SIGKILL skips that: the instances die with their parent, and the
// groups stay, empty. The next start removes them.

#ifndef MODELFN_POOL_CGROUP_SWEEP_H_
#define MODELFN_POOL_CGROUP_SWEEP_H_

#include <string>

namespace modelfn {

// In `parent` (a cgroup folder), removes every folder named PREFIX<pid> (the digits after the
// prefix of `own_group`, which ends "-PID") whose pid is not a running process, with the groups
// inside it, one level deep. A group that still holds a process cannot be removed (the kernel
// refuses) and is left; `own_group` itself is never touched. Returns how many were removed.
int RemoveDeadGroups(const std::string& parent, const std::string& own_group);

}  // namespace modelfn

#endif  // MODELFN_POOL_CGROUP_SWEEP_H_
