// Plans for a function of modelfn.yaml: the `local` target (modelfn up with the function's
// settings) beside the clouds, for `modelfn plan --target local` and the gateway's
// `GET /v1/plan/{function}` (docs/plan.md).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "plan/cloud_data.h"
#include "plan/planner.h"
#include "platform/config.h"

namespace modelfn {
namespace plan {

// `modelfn up` running `fn` on a host of `host_cpus`: its scheduler's settings, at the function's
// `cpus:` (else the host's CPUs), not billed.
CloudTarget LocalTarget(const FunctionConfig& fn, int host_cpus);

struct FunctionPlanRequest {
  const FunctionConfig* function = nullptr;
  std::string version;                // the version the function runs
  std::string manifest_sha256;        // of that version's manifest.json
  std::string profile_json;           // its stored profile ("" when there is none)
  std::string profile_origin;         // where it was read, for errors
  std::string pattern;                // a traffic pattern; "" plans the recorded arrivals
  std::vector<double> arrivals_wall;  // recorded arrival times (seconds since the epoch)
  double now_wall = 0;
  int host_cpus = 1;
  size_t max_arrivals = kMaxArrivals;  // a traffic with more is refused (invalid_traffic)
  PlanOptions options;                 // targets left empty: every cloud and `local`
};

// Errors: NotFound (reason "profile_missing") naming the command that makes the profile;
// FailedPrecondition (reason "profile_mismatch") for a profile of another version; the traffic's
// and the data files' errors as they are.
StatusOr<Plan> PlanFunction(const FunctionPlanRequest& request);

}  // namespace plan
}  // namespace modelfn
