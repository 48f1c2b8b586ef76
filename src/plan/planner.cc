#include "plan/planner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <thread>

#include "common/json.h"

namespace modelfn {
namespace plan {
namespace {

constexpr double kMonthSeconds = 730.0 * 3600;

std::string Num(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

void Judge(Candidate* c, const PlanOptions& o) {
  std::string why;
  auto add = [&](const std::string& s) { why += (why.empty() ? "" : "; ") + s; };
  if (o.p99_ms > 0 && c->sim.p99_ms > o.p99_ms)
    add("p99 " + Num(c->sim.p99_ms) + " ms > " + Num(o.p99_ms) + " ms");
  if (o.max_cold_share >= 0 && c->sim.ColdShare() > o.max_cold_share)
    add("cold starts " + Num(c->sim.ColdShare() * 100) + "% > " + Num(o.max_cold_share * 100) +
        "%");
  if (c->sim.requests > 0 &&
      c->sim.rejected * 1e6 > static_cast<double>(o.max_rejected_per_million) * c->sim.requests)
    add(std::to_string(c->sim.rejected) + " requests refused");
  if (c->sim.served == 0) add("nothing served");
  c->misses = why;
  c->meets = why.empty();
}

// Runs fn(0) .. fn(n - 1) on up to `threads` threads (the calling one among them). Returns the
// error of the lowest index that failed, so the result is the same as a sequential run's.
Status ParallelFor(size_t n, int threads, const std::function<Status(size_t)>& fn) {
  std::vector<Status> results(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) results[i] = fn(i);
  };
  size_t extra = std::min(n, static_cast<size_t>(std::max(threads, 1))) - (n > 0 ? 1 : 0);
  std::vector<std::thread> pool;
  pool.reserve(extra);
  for (size_t i = 0; i < extra; ++i) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  for (const Status& st : results)
    if (!st.ok()) return st;
  return Status::Ok();
}

}  // namespace

double Rates::PerSecond(const Size& size) const {
  double mem = size.memory_mb / 1024.0;
  return gb_second * mem + gib_second * mem + vcpu_second * size.vcpu;
}

Cost PriceOf(const SimResult& sim, double window_s, const Size& size, const TargetPrices& p,
             bool free_tier) {
  Cost c;
  double f = window_s > 0 ? kMonthSeconds / window_s : 0;
  double mem = size.memory_mb / 1024.0;
  // On-demand: per dimension, so free grants subtract in their own units.
  double s = sim.billed_on_demand_s * f;
  double gb = s * mem, gib = s * mem, vcpu = s * size.vcpu;
  double on_demand_requests = static_cast<double>(sim.served - sim.requests_on_min) * f;
  if (free_tier) {
    gb = std::max(0.0, gb - p.free_seconds.gb_second);
    gib = std::max(0.0, gib - p.free_seconds.gib_second);
    vcpu = std::max(0.0, vcpu - p.free_seconds.vcpu_second);
    on_demand_requests = std::max(0.0, on_demand_requests - p.free_requests);
  }
  c.on_demand = gb * p.active.gb_second + gib * p.active.gib_second + vcpu * p.active.vcpu_second;
  double idle_s = p.min_idle_whole_time ? sim.min_alive_s
                                        : std::max(0.0, sim.min_alive_s - sim.billed_on_min_s);
  c.min_instances =
      (idle_s * p.min_idle.PerSecond(size) + sim.billed_on_min_s * p.min_active.PerSecond(size)) *
      f;
  c.requests = on_demand_requests * p.per_request +
               static_cast<double>(sim.requests_on_min) * f * p.min_per_request;
  c.monthly = c.on_demand + c.min_instances + c.requests;
  double served_month = static_cast<double>(sim.served) * f;
  c.per_million = served_month > 0 ? c.monthly / served_month * 1e6 : 0;
  return c;
}

StatusOr<Plan> MakePlan(const Profile& profile, const Traffic& traffic,
                        const std::map<std::string, CloudTarget>& clouds, const PriceBook& prices,
                        const PlanOptions& options) {
  Plan plan;
  plan.model = profile.model;
  plan.version = profile.version;
  plan.profile_host = profile.host;
  plan.profile_enforcement = profile.enforcement;
  plan.profile_measured_at = profile.measured_at;
  plan.traffic = traffic.description;
  plan.price_version = prices.version;
  plan.price_origin = prices.origin;
  plan.currency = prices.currency;
  plan.requests = traffic.arrivals_s.size();
  plan.window_s = traffic.duration_s;
  plan.mean_rps = traffic.MeanRps();
  plan.options = options;
  std::vector<std::string> ids = options.targets;
  if (ids.empty())
    for (const auto& [id, t] : clouds) ids.push_back(id);
  for (const auto& id : ids) {
    if (clouds.count(id) == 0) {
      std::string known;
      for (const auto& [k, t] : clouds) known += (known.empty() ? "" : ", ") + k;
      return Status(StatusCode::kInvalidArgument,
                    "plan: no target \"" + id + "\" (targets: " + known + ")", "unknown_target");
    }
    const CloudTarget& ct = clouds.at(id);
    if (ct.rules.billing != BillingRule::kNone && prices.targets.count(id) == 0) {
      return Status(StatusCode::kInvalidArgument,
                    "plan: the prices (" + prices.origin + ", version " + prices.version +
                        ") have no entry for target \"" + id + "\"",
                    "price_missing");
    }
  }
  static const TargetPrices kFree;
  auto prices_of = [&](const std::string& id) -> const TargetPrices& {
    return prices.targets.count(id) ? prices.targets.at(id) : kFree;
  };
  auto run = [&](const std::string& id, const Size& size,
                 int min_instances) -> StatusOr<Candidate> {
    const CloudTarget& ct = clouds.at(id);
    Candidate c;
    c.target = id;
    c.size = size;
    c.min_instances = min_instances;
    SimSetup setup;
    setup.rules = ct.rules;
    auto by_mem = ct.concurrency_by_memory.find(size.memory_mb);
    if (by_mem != ct.concurrency_by_memory.end()) setup.rules.concurrency = by_mem->second;
    if (size.max_concurrency > 0)
      setup.rules.concurrency = std::min(setup.rules.concurrency, size.max_concurrency);
    c.concurrency = setup.rules.concurrency;
    ASSIGN_OR_RETURN(setup.service, ServiceAt(profile, size.vcpu));
    c.basis = setup.service.basis;
    setup.min_instances = std::min(min_instances, setup.rules.max_instances);
    setup.seed = options.seed;
    ASSIGN_OR_RETURN(c.sim, Simulate(setup, traffic));
    c.cost = PriceOf(c.sim, traffic.duration_s, size, prices_of(id), options.free_tier);
    Judge(&c, options);
    return c;
  };
  // Every simulation is independent of the others (each has its own seeded generator), so the
  // results do not depend on the order or the thread they run on.
  std::vector<TargetPlan> tps(ids.size());
  std::vector<std::pair<size_t, size_t>> jobs;  // (target, size) without min instances
  for (size_t t = 0; t < ids.size(); ++t) {
    const CloudTarget& ct = clouds.at(ids[t]);
    TargetPlan& tp = tps[t];
    tp.target = ids[t];
    tp.title = ct.title;
    tp.sources = ct.sources;
    tp.assumptions = ct.assumptions;
    tp.by_size.resize(ct.sizes.size());
    for (size_t i = 0; i < ct.sizes.size(); ++i) jobs.emplace_back(t, i);
  }
  auto by_size = [&](size_t j) -> Status {
    auto [t, i] = jobs[j];
    ASSIGN_OR_RETURN(tps[t].by_size[i], run(ids[t], clouds.at(ids[t]).sizes[i], 0));
    return Status::Ok();
  };
  RETURN_IF_ERROR(ParallelFor(jobs.size(), options.threads, by_size));
  auto sweep = [&](size_t t) -> Status {
    const CloudTarget& ct = clouds.at(ids[t]);
    TargetPlan& tp = tps[t];
    if (tp.by_size.empty()) return Status::Ok();
    // The min-instance sweep runs at the cheapest size that meets the targets without them, else
    // at the size with the lowest p99 (the one min instances are most likely to rescue).
    size_t chosen = 0;
    bool any = false;
    for (size_t i = 0; i < tp.by_size.size(); ++i) {
      const Candidate& c = tp.by_size[i];
      const Candidate& b = tp.by_size[chosen];
      if (c.meets && (!any || c.cost.monthly < b.cost.monthly)) chosen = i, any = true;
    }
    if (!any) {
      for (size_t i = 0; i < tp.by_size.size(); ++i) {
        const Candidate& c = tp.by_size[i];
        const Candidate& b = tp.by_size[chosen];
        // Among sizes that serve without refusals, the lowest p99 at the lowest cost.
        bool c_ok = c.sim.rejected == 0, b_ok = b.sim.rejected == 0;
        if (c_ok != b_ok
                ? c_ok
                : (c.sim.p99_ms < b.sim.p99_ms * 0.98 ||
                   (c.sim.p99_ms <= b.sim.p99_ms * 1.02 && c.cost.monthly < b.cost.monthly)))
          chosen = i;
      }
    }
    tp.chosen_size = chosen;
    int max_min = std::min(options.max_min_instances, ct.rules.max_instances);
    for (int n = 0; n <= max_min; ++n) {
      if (n == 0) {
        tp.min_sweep.push_back(tp.by_size[chosen]);
        continue;
      }
      ASSIGN_OR_RETURN(Candidate c, run(ids[t], tp.by_size[chosen].size, n));
      tp.min_sweep.push_back(std::move(c));
    }
    // Min instances at the other sizes too: the cheapest configuration may need one at a size
    // that misses the p99 without it. Only the sizes cheaper than the chosen one are tried.
    for (size_t i = 0; i < tp.by_size.size(); ++i) {
      if (i == chosen || tp.by_size[i].cost.monthly >= tp.by_size[chosen].cost.monthly) continue;
      if (tp.by_size[i].meets) continue;
      for (int n = 1; n <= std::min(max_min, 3); ++n) {
        ASSIGN_OR_RETURN(Candidate c, run(ids[t], tp.by_size[i].size, n));
        if (c.meets) {
          tp.min_sweep.push_back(std::move(c));
          break;
        }
      }
    }
    for (size_t i = 0; i < tp.min_sweep.size(); ++i) {
      const Candidate& c = tp.min_sweep[i];
      if (!c.meets) continue;
      if (tp.recommended < 0 || c.cost.monthly < tp.min_sweep[tp.recommended].cost.monthly - 1e-9)
        tp.recommended = static_cast<int>(i);
    }
    // A size that meets without min instances and is cheaper than the sweep's best.
    for (const Candidate& c : tp.by_size) {
      if (!c.meets) continue;
      if (tp.recommended < 0 || c.cost.monthly < tp.min_sweep[tp.recommended].cost.monthly - 1e-9) {
        tp.min_sweep.push_back(c);
        tp.recommended = static_cast<int>(tp.min_sweep.size() - 1);
      }
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(ParallelFor(ids.size(), options.threads, sweep));
  for (TargetPlan& tp : tps)
    if (!tp.by_size.empty()) plan.targets.push_back(std::move(tp));
  for (size_t i = 0; i < plan.targets.size(); ++i) {
    const TargetPlan& tp = plan.targets[i];
    if (tp.recommended < 0) continue;
    if (plan.best_target < 0 || tp.min_sweep[tp.recommended].cost.monthly <
                                    plan.targets[plan.best_target]
                                        .min_sweep[plan.targets[plan.best_target].recommended]
                                        .cost.monthly)
      plan.best_target = static_cast<int>(i);
  }
  return plan;
}

}  // namespace plan
}  // namespace modelfn
