// `modelfn plan`: every target and size simulated for a traffic, priced, and the cheapest
// configuration that meets the stated p99 and cold-start targets recommended (docs/plan.md).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "plan/cloud_data.h"
#include "plan/profile.h"
#include "plan/simulator.h"
#include "plan/traffic.h"

namespace modelfn {
namespace plan {

// The cost of one simulated configuration, extrapolated from the window to a month (730 hours).
struct Cost {
  double monthly = 0;
  double per_million = 0;                                 // per million requests served
  double on_demand = 0, min_instances = 0, requests = 0;  // monthly parts
};

// Prices `sim` (a window of `window_s` seconds) at `size` with `prices`; `free_tier` subtracts the
// monthly free grants from on-demand use.
Cost PriceOf(const SimResult& sim, double window_s, const Size& size, const TargetPrices& prices,
             bool free_tier);

struct PlanOptions {
  double p99_ms = 0;                 // target p99; 0: none
  double max_cold_share = -1;        // target share of requests that meet a cold start; < 0: none
  std::vector<std::string> targets;  // empty: every target of the cloud data
  int max_min_instances = 8;         // min instances tried, 0..this
  bool free_tier = false;
  uint64_t seed = 1;
  int max_rejected_per_million = 0;  // a configuration that throttles more is refused
  int threads = 1;                   // simulations run at once; the plan does not depend on it
};

struct Candidate {
  std::string target;
  Size size;
  int min_instances = 0;
  int concurrency = 1;
  std::string basis;  // the profile point it rests on: measured, interpolated, extrapolated
  SimResult sim;
  Cost cost;
  bool meets = false;
  std::string misses;  // why it does not meet the targets ("" when it does)
};

struct TargetPlan {
  std::string target, title;
  std::vector<Candidate> by_size;    // every size, no min instances
  std::vector<Candidate> min_sweep;  // the chosen size with 0..max_min_instances
  int recommended = -1;              // index in min_sweep, or -1 when nothing meets the targets
  size_t chosen_size = 0;            // index in by_size the sweep was run at
  std::vector<std::string> sources, assumptions;
};

struct Plan {
  std::string model, version, profile_host, profile_enforcement, profile_measured_at;
  std::string traffic, price_version, price_origin, currency;
  size_t requests = 0;
  double window_s = 0, mean_rps = 0;
  PlanOptions options;
  std::vector<TargetPlan> targets;
  // The cheapest recommendation across targets: (target index, sweep index), or -1.
  int best_target = -1;
};

// Plans `traffic` for `profile` on `clouds` priced by `prices`. InvalidArgument naming a target
// asked for that the cloud data or the price book lacks (reason "unknown_target" or
// "price_missing").
StatusOr<Plan> MakePlan(const Profile& profile, const Traffic& traffic,
                        const std::map<std::string, CloudTarget>& clouds, const PriceBook& prices,
                        const PlanOptions& options);

}  // namespace plan
}  // namespace modelfn
