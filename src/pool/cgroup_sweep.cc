#include "pool/cgroup_sweep.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace modelfn {
namespace {

std::vector<std::string> Subfolders(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || e->d_type != DT_DIR) continue;
    out.push_back(name);
  }
  closedir(d);
  return out;
}

// The pid after `prefix` in `name`, or 0 when the rest is not a pid.
pid_t PidAfter(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
  if (name.size() - prefix.size() > 9) return 0;
  pid_t pid = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid;
}

}  // namespace

int RemoveDeadGroups(const std::string& parent, const std::string& own_group) {
  size_t dash = own_group.rfind('-');
  if (dash == std::string::npos || PidAfter(own_group, own_group.substr(0, dash + 1)) == 0)
    return 0;
  const std::string prefix = own_group.substr(0, dash + 1);
  int removed = 0;
  for (const std::string& name : Subfolders(parent)) {
    if (name == own_group) continue;
    pid_t pid = PidAfter(name, prefix);
    if (pid <= 0) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // running (or not ours to ask): kept
    const std::string dir = parent + "/" + name;
    for (const std::string& child : Subfolders(dir)) rmdir((dir + "/" + child).c_str());
    if (rmdir(dir.c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace modelfn
