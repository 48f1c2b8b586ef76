#include "pool/scaler.h"

#include <algorithm>

namespace modelfn {

ScaleDecision DecideScale(const ScalingParams& params, const std::vector<InstanceView>& instances,
                          size_t queued, int64_t now_ns) {
  ScaleDecision d;
  int conc = std::max(1, params.concurrency);
  int live = 0, current = 0, old = 0;
  int64_t demand = static_cast<int64_t>(queued);
  for (const auto& i : instances) {
    if (i.stopping) continue;
    ++live;
    if (i.current) {
      ++current;
      demand += i.active;
    } else {
      ++old;
    }
  }
  int needed = static_cast<int>((demand + conc - 1) / conc);
  int target = std::max({params.min_instances, needed, old > 0 ? std::min(old, needed + old) : 0});
  target = std::min(target, params.max_instances);
  int room = params.max_instances - live;
  d.start = std::max(0, std::min(target - current, room));

  // Scale in: idle current instances past their TTL, oldest idle first, down to the floor.
  int floor = std::max(params.min_instances, needed);
  std::vector<const InstanceView*> idle;
  for (const auto& i : instances) {
    if (i.stopping || i.active > 0) continue;
    if (!i.current) {
      d.stop.push_back(i.id);  // drained: it takes no new requests
      continue;
    }
    if (i.ready && now_ns - i.idle_since_ns >= params.idle_ttl_ns) idle.push_back(&i);
  }
  std::sort(idle.begin(), idle.end(), [](const InstanceView* a, const InstanceView* b) {
    return a->idle_since_ns < b->idle_since_ns;
  });
  int remaining = current;
  for (const InstanceView* i : idle) {
    if (remaining <= floor) break;
    d.stop.push_back(i->id);
    --remaining;
  }
  return d;
}

std::optional<uint64_t> PickInstance(const ScalingParams& params,
                                     const std::vector<InstanceView>& instances) {
  int conc = std::max(1, params.concurrency);
  const InstanceView* best = nullptr;
  auto better = [](const InstanceView& a, const InstanceView* b) {
    if (b == nullptr) return true;
    if (a.current != b->current) return a.current;
    if (a.active != b->active) return a.active < b->active;
    return a.idle_since_ns > b->idle_since_ns;
  };
  for (const auto& i : instances) {
    if (!i.ready || i.stopping || !i.current || i.active >= conc) continue;
    if (better(i, best)) best = &i;
  }
  if (best == nullptr) return std::nullopt;
  return best->id;
}

}  // namespace modelfn
