#include "common/cpu_quota.h"

#include <sched.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace modelfn {
namespace {

bool ReadFirstLine(const std::string& path, std::string* line) {
  std::ifstream f(path);
  return f && std::getline(f, *line);
}

// The cgroup v2 path of this process ("0::/some/path"), relative to the unified mount.
std::string OwnCgroupV2Path(const std::string& root) {
  std::ifstream f(root + "/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return "";
}

double QuotaV2(const std::string& root) {
  // Walk from our own cgroup up to the root: the tightest limit wins.
  std::string rel = OwnCgroupV2Path(root);
  double best = 0;
  while (true) {
    std::string line;
    if (ReadFirstLine(root + "/sys/fs/cgroup" + rel + "/cpu.max", &line)) {
      std::istringstream in(line);
      std::string quota;
      double period = 0;
      if (in >> quota >> period && quota != "max" && period > 0) {
        double q = std::stod(quota) / period;
        if (q > 0 && (best == 0 || q < best)) best = q;
      }
    }
    if (rel.empty() || rel == "/") break;
    size_t slash = rel.rfind('/');
    rel = slash == 0 || slash == std::string::npos ? "" : rel.substr(0, slash);
  }
  return best;
}

double QuotaV1(const std::string& root) {
  std::string q, p;
  if (!ReadFirstLine(root + "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", &q) ||
      !ReadFirstLine(root + "/sys/fs/cgroup/cpu/cpu.cfs_period_us", &p)) {
    return 0;
  }
  try {
    double quota = std::stod(q), period = std::stod(p);
    return quota > 0 && period > 0 ? quota / period : 0;
  } catch (...) {
    return 0;
  }
}

}  // namespace

int CpuQuota::EffectiveCpus() const {
  int n = affinity_cpus > 0 ? affinity_cpus : 1;
  if (quota_cpus > 0) {
    int q = static_cast<int>(std::ceil(quota_cpus - 1e-9));
    if (q < n) n = q;
  }
  return n < 1 ? 1 : n;
}

CpuQuota ReadCpuQuota(const std::string& root) {
  CpuQuota out;
  try {
    out.quota_cpus = QuotaV2(root);
  } catch (...) {
    out.quota_cpus = 0;
  }
  if (out.quota_cpus == 0) out.quota_cpus = QuotaV1(root);
  if (root.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) out.affinity_cpus = CPU_COUNT(&set);
  } else {
    out.affinity_cpus = 1024;  // a fake tree has no affinity mask: the quota alone decides
  }
  return out;
}

}  // namespace modelfn
