// `modelfn plan profile`: measures a model on this machine at several CPU shares (docs/plan.md,
// "Profile"). At each share a fresh modelfn-fn is started in a CPU group limited to that share,
// `cold_rounds` times: exec -> first answer is the cold start, and the init line it logs gives
// the phases. The last one stays up for the warm measurements: one request at a time per batch
// size, then requests from several connections at once for the instance's throughput, then its
// peak RSS.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "plan/profile.h"

namespace modelfn {
namespace plan {

// How a share is enforced on a process (the CPU limiter of modelfn up in production, nothing in
// tests of the measuring loop).
class ShareEnforcer {
 public:
  virtual ~ShareEnforcer() = default;
  // Says how shares are enforced (for the profile's "enforcement").
  virtual std::string Name() const = 0;
  // A group whose processes together get `cpus` CPUs; returns its handle.
  virtual StatusOr<std::string> Create(const std::string& name, double cpus) = 0;
  // The cgroup folder a child joins before exec, or "" when it is attached by pid.
  virtual std::string ChildGroupDir(const std::string& group) const = 0;
  // Puts `pid` in the group from the parent (when ChildGroupDir is "").
  virtual Status Attach(const std::string& group, pid_t pid) = 0;
  // Environment for the child, e.g. its share when no cgroup tells it.
  virtual std::map<std::string, std::string> Env(double cpus) const = 0;
  virtual void Remove(const std::string& group) = 0;
};

struct ProfileRequest {
  std::string fn_binary;                   // modelfn-fn
  std::vector<std::string> fn_args;        // its arguments; "--port 0" is added
  std::map<std::string, std::string> env;  // its whole environment (the share's is added)
  std::vector<std::string> bodies;         // /v1/infer bodies at batch 1, used in turn
  std::vector<int> batch_sizes;            // measured beyond 1 (the model takes a batch dimension)
  std::vector<double> shares;              // CPUs, ascending
  int cold_rounds = 5;
  int run_samples = 60;
  double throughput_s = 2;
  std::string scratch_dir;                           // the instances' logs
  std::function<void(const std::string&)> progress;  // a line per step; may be empty
};

// Measures every share. Errors: Unavailable when an instance cannot start, FailedPrecondition
// (reason "profile_request_failed") when the function refuses a sample body (naming the status
// and problem), with the log's last lines when init fails. Instances are always killed and the
// groups removed, on error too.
StatusOr<Profile> MeasureProfile(const ProfileRequest& request, ShareEnforcer* enforcer);

// The body with each input's outer dimension repeated to `batch` rows (inputs given as one row).
// InvalidArgument when an input is not an array of one row.
StatusOr<std::string> BatchBody(const std::string& body, int batch);

}  // namespace plan
}  // namespace modelfn
