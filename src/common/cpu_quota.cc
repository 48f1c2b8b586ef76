#include "common/cpu_quota.h"

#include <sched.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace modelfn {
namespace {

bool ReadFirstLine(const std::string& path, std::string* line) {
  std::ifstream f(path);
  return f && std::getline(f, *line);
}

}  // namespace

std::string OwnCgroupPath(const std::string& root, const std::string& controller) {
  std::ifstream f(root + "/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    std::string path = line.substr(c2 + 1);
    if (controller.empty()) {
      if (line.rfind("0::", 0) == 0) return path;
      continue;
    }
    std::istringstream list(line.substr(c1 + 1, c2 - c1 - 1));
    std::string c;
    while (std::getline(list, c, ',')) {
      if (c == controller) return path;
    }
  }
  return "";
}

namespace {

// Walks from `rel` up to the hierarchy's root; `read(dir)` returns a quota in CPUs (0 for none).
// The tightest limit wins, as the kernel enforces every ancestor's.
template <typename ReadFn>
double TightestUpwards(std::string rel, ReadFn read) {
  double best = 0;
  while (true) {
    double q = read(rel);
    if (q > 0 && (best == 0 || q < best)) best = q;
    if (rel.empty() || rel == "/") break;
    size_t slash = rel.rfind('/');
    rel = slash == 0 || slash == std::string::npos ? "" : rel.substr(0, slash);
  }
  return best;
}

double QuotaV2(const std::string& root) {
  return TightestUpwards(OwnCgroupPath(root, ""), [&](const std::string& rel) {
    std::string line;
    if (!ReadFirstLine(root + "/sys/fs/cgroup" + rel + "/cpu.max", &line)) return 0.0;
    std::istringstream in(line);
    std::string quota;
    double period = 0;
    if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0.0;
    return std::stod(quota) / period;
  });
}

double QuotaV1(const std::string& root) {
  std::string mount;
  for (const char* m : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
    std::string probe;
    if (ReadFirstLine(root + m + "/cpu.cfs_period_us", &probe)) {
      mount = root + m;
      break;
    }
  }
  if (mount.empty()) return 0;
  return TightestUpwards(OwnCgroupPath(root, "cpu"), [&](const std::string& rel) {
    std::string q, p;
    if (!ReadFirstLine(mount + rel + "/cpu.cfs_quota_us", &q) ||
        !ReadFirstLine(mount + rel + "/cpu.cfs_period_us", &p)) {
      return 0.0;
    }
    double quota = std::stod(q), period = std::stod(p);
    return quota > 0 && period > 0 ? quota / period : 0.0;
  });
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
  if (out.quota_cpus == 0) {
    try {
      out.quota_cpus = QuotaV1(root);
    } catch (...) {
      out.quota_cpus = 0;
    }
  }
  if (root.empty()) {
    // A share enforced without a cgroup (modelfn plan's duty cycle) is told in the environment.
    if (const char* e = getenv("MODELFN_CPUS")) {
      char* end = nullptr;
      double v = strtod(e, &end);
      if (end != e && *end == '\0' && v > 0 && v < 4096 &&
          (out.quota_cpus == 0 || v < out.quota_cpus))
        out.quota_cpus = v;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) out.affinity_cpus = CPU_COUNT(&set);
  } else {
    out.affinity_cpus = 1024;  // a fake tree has no affinity mask: the quota alone decides
  }
  return out;
}

}  // namespace modelfn
