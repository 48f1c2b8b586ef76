// Scaling rules of one function's instance pool, as pure functions of a snapshot and the time, so
// they are unit-tested without processes or sleeping. The pool (pool.h) applies the decisions.
//
// Rules:
//   - demand = requests in flight on current instances + requests queued; needed = ceil(demand /
//     concurrency). Target = max(min_instances, needed), and after a new model version
//     (generation) appears, at least as many current instances as old ones still live.
//   - Start target - current live instances, never above max_instances in total (old included).
//   - Stop an idle current instance once idle_ttl has passed, oldest idle first, while more than
//     max(min_instances, needed) remain.
//   - Old-generation instances drain: they finish what they serve, take nothing new, and stop as
//     soon as they are idle (which also makes room under max_instances for current ones). A
//     request meanwhile waits in the queue for a current instance, as during a cold start.
//   - Dispatch to the ready current instance with the fewest requests in flight, the most recently
//     used on ties (so the others go idle and scale in).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace modelfn {

struct ScalingParams {
  int min_instances = 0;
  int max_instances = 8;
  int concurrency = 1;
  int64_t idle_ttl_ns = 60'000'000'000;
};

struct InstanceView {
  uint64_t id = 0;
  bool ready = false;         // initialised; false while starting
  bool current = true;        // runs the pool's current model version
  bool stopping = false;      // being stopped: takes no requests, counts for nothing
  int active = 0;             // requests in flight
  int64_t idle_since_ns = 0;  // when `active` last dropped to 0 (or it became ready)
};

struct ScaleDecision {
  int start = 0;
  std::vector<uint64_t> stop;
};

ScaleDecision DecideScale(const ScalingParams& params, const std::vector<InstanceView>& instances,
                          size_t queued, int64_t now_ns);

// The instance to send the next request to, or nullopt when every slot is taken.
std::optional<uint64_t> PickInstance(const ScalingParams& params,
                                     const std::vector<InstanceView>& instances);

}  // namespace modelfn
