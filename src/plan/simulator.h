// The capacity simulator of `modelfn plan`: instances of one function on one target, driven by a
// traffic (traffic.h) and a service model read from the profile (profile.h). Discrete events, no
// clock, no threads: the same inputs and seed give the same result.
//
// What every target shares (docs/plan.md, "The model of each cloud"):
//   - an instance starts in platform_cold_ms plus a cold start drawn from the profile, then serves;
//   - a request alone takes a run time drawn from the profile; k requests on one instance share
//     it as processor sharing: each progresses at min(1, capacity / k) of its alone speed;
//   - a request is cold when it waited for the init of the instance that served it;
//   - min instances start warm at time 0 and never stop.
// How instances are chosen and started differs:
//   - kPerRequest (Lambda): one request per instance. A request that finds no idle instance starts
//     a new one and waits for it (no queue); the most recently used idle instance is reused; at
//     max_instances, or past the scale-out rate, the request is throttled.
//   - kUtilization (Cloud Run, Azure Flex): requests go to the least loaded ready instance below
//     `concurrency`, else wait in a queue. Instances start when requests wait with no starting
//     instance to take them, and every scale_interval_s when the load averaged over
//     scale_window_s asks for more: ceil(requests in flight or queued / (concurrency x target)),
//     and ceil(CPU in use / (capacity x target)) where CPU drives scaling.
//   - kLocal (`modelfn up`): the platform's own scheduler (pool/scheduler.h) decides, with the
//     function's settings, so the prediction follows the code it predicts.
// Every kind stops an instance idle for idle_timeout_s (kLocal: idle_ttl, through the scheduler).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "plan/profile.h"
#include "plan/traffic.h"

namespace modelfn {
namespace plan {

enum class ScaleKind { kPerRequest, kUtilization, kLocal };
enum class BillingRule {
  kNone,                   // nothing billed (modelfn up)
  kPerRequestDuration,     // each request's time on its instance, rounded up (Lambda)
  kInstanceActiveTime,     // an instance's time with a request in flight, rounded up (Cloud Run)
  kInstanceExecutionTime,  // the same measure, billed per execution time (Azure Flex)
};

struct TargetRules {
  std::string id;  // "aws-lambda-zip", "cloud-run", "azure-flex", "local", ...
  ScaleKind scale = ScaleKind::kPerRequest;
  int concurrency = 1;  // requests at once per instance
  // kUtilization: scale out when the load averaged over scale_window_s exceeds these shares of
  // what the instances carry: requests in flight per instance against `concurrency`, and CPU in
  // use against the instance's capacity (0: CPU is not a driver).
  double target_concurrency_utilization = 1;
  double target_cpu_utilization = 0;
  double scale_interval_s = 2;  // kUtilization: how often the autoscaler decides
  double scale_window_s = 60;   // kUtilization: the load is averaged over this window
  double idle_timeout_s = 600;  // an idle instance stops after this (min instances never)
  double platform_cold_ms = 0;  // the platform's own start, before our process runs
  int max_instances = 1000;
  int max_new_per_10s = 0;  // kPerRequest: new instances per 10 s; 0: no limit
  // kLocal: the scheduler's settings (pool/scheduler.h).
  int max_concurrent_inits = 1;
  int max_queue = 64;
  double queue_timeout_s = 10;
  double timeout_s = 30;
  BillingRule billing = BillingRule::kNone;
  double granularity_ms = 1;  // billed time is rounded up to this
  double minimum_ms = 0;      // and is at least this per billed period (Azure Flex: 1 s)
  bool init_billed = false;   // the init of an on-demand instance is billed (as its first use)
};

struct SimSetup {
  TargetRules rules;
  ServiceModel service;
  int min_instances = 0;
  uint64_t seed = 1;
  int timeline_points = 240;  // buckets of the instances-over-time series
};

struct SimResult {
  size_t requests = 0;
  size_t served = 0;
  size_t cold = 0;      // served after waiting for an init
  size_t rejected = 0;  // throttled, queue full or waited too long
  size_t inits = 0;     // instances started, min instances included
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, mean_ms = 0;  // served requests, arrival to answer
  // Billing quantities over the window, in seconds of one instance (multiply by its size):
  double billed_on_demand_s = 0;  // per the rule, on instances that are not min instances
  double billed_on_min_s = 0;     // per the rule, on min instances (provisioned executions)
  double min_alive_s = 0;         // min instances' lifetime (provisioned / always ready time)
  size_t requests_on_min = 0;
  double instance_alive_s = 0;  // every instance's lifetime, for reference
  int peak_instances = 0;
  std::vector<int> timeline;  // the most instances alive in each of timeline_points buckets
  double timeline_step_s = 0;
  double ColdShare() const { return requests ? static_cast<double>(cold) / requests : 0; }
};

// Runs `traffic` through `setup`. InvalidArgument when the setup cannot run (no samples, no
// instance allowed).
StatusOr<SimResult> Simulate(const SimSetup& setup, const Traffic& traffic);

}  // namespace plan
}  // namespace modelfn
