#include "plan/function_plan.h"

namespace modelfn {
namespace plan {

CloudTarget LocalTarget(const FunctionConfig& fn, int host_cpus) {
  CloudTarget local;
  local.id = "local";
  local.title = "modelfn up (" + fn.name + ")";
  double cpus = fn.cpus > 0 ? fn.cpus : host_cpus;
  local.sizes = {{fn.memory_mb, cpus, 0}};
  local.rules.id = "local";
  local.rules.scale = ScaleKind::kLocal;
  local.rules.concurrency = fn.mode == InstanceMode::kLambda ? 1 : fn.concurrency;
  local.rules.max_instances = fn.max_instances;
  local.rules.idle_timeout_s = fn.idle_ttl_s;
  local.rules.max_concurrent_inits = host_cpus;
  local.rules.max_queue = fn.max_queue;
  local.rules.queue_timeout_s = fn.queue_timeout_s;
  local.rules.timeout_s = fn.timeout_s;
  local.rules.billing = BillingRule::kNone;
  local.assumptions = {"instances start by exec (start: exec): a forked start is not modelled"};
  return local;
}

StatusOr<Plan> PlanFunction(const FunctionPlanRequest& rq) {
  const FunctionConfig& fn = *rq.function;
  if (rq.profile_json.empty()) {
    return Status(StatusCode::kNotFound,
                  "no profile of " + fn.model + "@" + rq.version + " (" + rq.profile_origin +
                      "): run `modelfn plan profile " + fn.name + " -f modelfn.yaml`",
                  "profile_missing");
  }
  auto profile = Profile::Parse(rq.profile_json);
  if (!profile.ok()) return profile.status().WithContext(rq.profile_origin);
  if (profile->manifest_sha256 != rq.manifest_sha256) {
    return Status(StatusCode::kFailedPrecondition,
                  "the profile " + rq.profile_origin + " is of " + profile->model + "@" +
                      profile->version + ", not of the version " + fn.name + " runs (" + fn.model +
                      "@" + rq.version + "): profile it again",
                  "profile_mismatch");
  }
  StatusOr<Traffic> traffic =
      rq.pattern.empty() ? TrafficFromArrivals(rq.arrivals_wall, rq.now_wall,
                                               "the requests modelfn up recorded for " + fn.name)
                         : TrafficFromPattern(rq.pattern);
  if (!traffic.ok()) return traffic.status();
  if (traffic->arrivals_s.size() > rq.max_arrivals) {
    return Status(StatusCode::kInvalidArgument,
                  "traffic: " + std::to_string(traffic->arrivals_s.size()) + " requests; at most " +
                      std::to_string(rq.max_arrivals) +
                      " are planned here (shorten it with \"for DUR\", or run `modelfn plan`)",
                  "invalid_traffic");
  }
  ASSIGN_OR_RETURN(auto clouds, ParseClouds(BuiltInClouds()));
  ASSIGN_OR_RETURN(PriceBook prices, ParsePrices(BuiltInPrices(), "built in"));
  PlanOptions o = rq.options;
  if (o.targets.empty()) {
    for (const auto& [id, t] : clouds) o.targets.push_back(id);
    o.targets.push_back("local");
  }
  clouds["local"] = LocalTarget(fn, rq.host_cpus);
  return MakePlan(*profile, *traffic, clouds, prices, o);
}

}  // namespace plan
}  // namespace modelfn
