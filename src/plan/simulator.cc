#include "plan/simulator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <queue>
#include <random>
#include <unordered_map>

#include "pool/scheduler.h"

namespace modelfn {
namespace plan {
namespace {

constexpr double kEps = 1e-9;

struct Request {
  double arrival = 0;
  double work_ms = 0;  // alone-speed milliseconds left
  double service_start = -1;
  int instance = -1;
  bool cold = false;
};

struct Instance {
  int id = 0;
  bool alive = true;
  bool ready = false;
  bool is_min = false;
  double born = 0, ready_at = 0, init_ms = 0;
  std::vector<int> serving;  // request indices in service
  double last_update = 0;
  double busy_since = -1;
  double idle_since = 0;
  uint64_t version = 0;   // completion events of older versions are stale
  int waiting = -1;       // kPerRequest: the request that started it, served once ready
  uint64_t sched_id = 0;  // kLocal: the scheduler's id
};

struct Event {
  double t;
  uint64_t seq;
  enum Kind { kReady, kCompletion, kIdleCheck, kScaleTick, kSchedTick } kind;
  int instance;
  uint64_t version;
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

double RoundUp(double ms, double granularity) {
  if (granularity <= 0) return ms;
  return std::ceil(ms / granularity - 1e-9) * granularity;
}

class Sim {
 public:
  Sim(const SimSetup& s, const Traffic& t) : s_(s), r_(s.rules), t_(t), rng_(s.seed) {
    res_.timeline.assign(static_cast<size_t>(std::max(1, s.timeline_points)), 0);
    res_.timeline_step_s = std::max(t.duration_s, kEps) / res_.timeline.size();
  }

  SimResult Run();

 private:
  double Draw(const std::vector<double>& v) {
    std::uniform_int_distribution<size_t> pick(0, v.size() - 1);
    return v[pick(rng_)];
  }
  void Push(double t, Event::Kind k, int inst = -1, uint64_t version = 0) {
    events_.push(Event{t, seq_++, k, inst, version});
  }
  int AliveCount() const { return alive_; }
  void CountChange(double t, int delta);
  double Billed(double ms) const {
    return std::max(RoundUp(ms, r_.granularity_ms), r_.minimum_ms) / 1e3;
  }
  void CpuChange(double t, size_t before, size_t after) {
    cpu_area_ += cpu_now_ * (t - cpu_last_t_);
    cpu_last_t_ = t;
    cpu_now_ += std::min<double>(after, s_.service.capacity) -
                std::min<double>(before, s_.service.capacity);
  }
  // An on-demand instance, initialising until t + init_ms; a min instance, warm (ready) at t.
  int StartInstance(double t, double init_ms);
  int StartWarmInstance(double t);
  int NewInstance(double t, bool is_min);
  void StopInstance(Instance& in, double t);
  void Advance(Instance& in, double t);
  void Reschedule(Instance& in, double t);
  void BeginService(Instance& in, int req, double t);
  void Complete(Instance& in, double t);
  void BusyEnded(Instance& in, double t);
  void MaybeIdle(Instance& in, double t);

  void ArrivePerRequest(int req, double t);
  void ArriveUtilization(int req, double t);
  void DrainQueue(double t);
  void ActivatorScale(double t);
  void AutoscaleTick(double t);

  void ArriveLocal(int req, double t);
  void Apply(const SchedActions& acts, double t);
  void ScheduleSchedTick();

  const SimSetup& s_;
  const TargetRules& r_;
  const Traffic& t_;
  std::mt19937_64 rng_;
  SimResult res_;
  std::vector<Request> reqs_;
  std::vector<std::unique_ptr<Instance>> insts_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  uint64_t seq_ = 0;
  int alive_ = 0;
  size_t last_bucket_ = 0;
  std::vector<float> latencies_;
  std::deque<int> queue_;             // kUtilization
  std::deque<double> recent_starts_;  // kPerRequest: start times in the last 10 s
  // kUtilization: load integral for the autoscaler.
  double load_area_ = 0, load_last_t_ = 0;
  int load_now_ = 0;                                    // requests in flight or queued
  double cpu_area_ = 0, cpu_last_t_ = 0, cpu_now_ = 0;  // capacity in use, summed over instances
  struct LoadSample {
    double t, load_area, cpu_area;
  };
  std::deque<LoadSample> load_samples_;
  // kLocal
  std::unique_ptr<Scheduler> sched_;
  std::unordered_map<uint64_t, int> by_sched_id_;
  double sched_tick_at_ = -1;
  bool starting_min_ = false;  // Apply() is starting the min instances of the window's start
};

void Sim::CountChange(double t, int delta) {
  auto& tl = res_.timeline;
  size_t b = std::min(tl.size() - 1, static_cast<size_t>(std::max(0.0, t) / res_.timeline_step_s));
  for (size_t i = last_bucket_ + 1; i <= b && i < tl.size(); ++i) tl[i] = alive_;
  last_bucket_ = std::max(last_bucket_, b);
  alive_ += delta;
  tl[b] = std::max(tl[b], alive_);
  res_.peak_instances = std::max(res_.peak_instances, alive_);
}

int Sim::NewInstance(double t, bool is_min) {
  auto in = std::make_unique<Instance>();
  in->id = static_cast<int>(insts_.size());
  in->is_min = is_min;
  in->born = t;
  in->last_update = t;
  insts_.push_back(std::move(in));
  ++res_.inits;
  CountChange(t, +1);
  return insts_.back()->id;
}

int Sim::StartInstance(double t, double init_ms) {
  int id = NewInstance(t, false);
  Instance& in = *insts_[id];
  in.init_ms = init_ms;
  in.ready_at = t + init_ms / 1e3;
  Push(in.ready_at, Event::kReady, id);
  return id;
}

int Sim::StartWarmInstance(double t) {
  int id = NewInstance(t, true);
  Instance& in = *insts_[id];
  in.ready = true;
  in.ready_at = t;
  in.idle_since = t;
  return id;
}

void Sim::StopInstance(Instance& in, double t) {
  if (!in.alive) return;
  in.alive = false;
  ++in.version;
  res_.instance_alive_s += t - in.born;
  CountChange(t, -1);
}

void Sim::Advance(Instance& in, double t) {
  double dt = t - in.last_update;
  in.last_update = t;
  if (dt <= 0 || in.serving.empty()) return;
  double rate = std::min(1.0, s_.service.capacity / in.serving.size());
  for (int q : in.serving) reqs_[q].work_ms -= dt * 1e3 * rate;
}

void Sim::Reschedule(Instance& in, double t) {
  ++in.version;
  if (in.serving.empty()) return;
  double rate = std::min(1.0, s_.service.capacity / in.serving.size());
  double least = 1e300;
  for (int q : in.serving) least = std::min(least, reqs_[q].work_ms);
  Push(t + std::max(0.0, least) / 1e3 / rate, Event::kCompletion, in.id, in.version);
}

void Sim::BeginService(Instance& in, int q, double t) {
  Advance(in, t);
  Request& rq = reqs_[q];
  rq.instance = in.id;
  rq.service_start = t;
  rq.cold = rq.arrival < in.ready_at - kEps;
  if (in.serving.empty()) in.busy_since = t;
  CpuChange(t, in.serving.size(), in.serving.size() + 1);
  in.serving.push_back(q);
  Reschedule(in, t);
}

void Sim::BusyEnded(Instance& in, double t) {
  if (r_.billing == BillingRule::kInstanceActiveTime ||
      r_.billing == BillingRule::kInstanceExecutionTime) {
    (in.is_min ? res_.billed_on_min_s : res_.billed_on_demand_s) +=
        Billed((t - in.busy_since) * 1e3);
  }
  in.busy_since = -1;
}

void Sim::MaybeIdle(Instance& in, double t) {
  if (!in.serving.empty() || in.is_min || !in.alive) return;
  in.idle_since = t;
  if (r_.scale != ScaleKind::kLocal)
    Push(t + r_.idle_timeout_s, Event::kIdleCheck, in.id, in.version);
}

void Sim::Complete(Instance& in, double t) {
  Advance(in, t);
  std::vector<int> done;
  auto& sv = in.serving;
  size_t before = sv.size();
  for (size_t i = 0; i < sv.size();) {
    if (reqs_[sv[i]].work_ms <= 1e-6) {
      done.push_back(sv[i]);
      sv[i] = sv.back();
      sv.pop_back();
    } else {
      ++i;
    }
  }
  for (int q : done) {
    Request& rq = reqs_[q];
    latencies_.push_back(static_cast<float>((t - rq.arrival) * 1e3));
    ++res_.served;
    if (rq.cold) ++res_.cold;
    if (in.is_min) ++res_.requests_on_min;
    if (r_.billing == BillingRule::kPerRequestDuration) {
      (in.is_min ? res_.billed_on_min_s : res_.billed_on_demand_s) +=
          Billed((t - rq.service_start) * 1e3);
    }
    if (r_.scale == ScaleKind::kUtilization) {
      load_area_ += load_now_ * (t - load_last_t_);
      load_last_t_ = t;
      --load_now_;
    }
  }
  CpuChange(t, before, sv.size());
  if (sv.empty() && !done.empty()) BusyEnded(in, t);
  Reschedule(in, t);
  if (r_.scale == ScaleKind::kLocal) {
    SchedActions acts;
    for (int q : done) sched_->RequestDone(static_cast<uint64_t>(q) + 1, t * 1e9, &acts);
    Apply(acts, t);
    if (sv.empty()) in.idle_since = t;
    return;
  }
  if (r_.scale == ScaleKind::kUtilization) DrainQueue(t);
  MaybeIdle(in, t);
}

// --- kPerRequest --------------------------------------------------------------------------

void Sim::ArrivePerRequest(int q, double t) {
  Instance* best = nullptr;
  for (auto& p : insts_) {
    Instance& in = *p;
    if (!in.alive || !in.ready || !in.serving.empty() || in.waiting >= 0) continue;
    if (best == nullptr || in.idle_since > best->idle_since ||
        (in.is_min && !best->is_min && in.idle_since == best->idle_since))
      best = &in;
  }
  if (best != nullptr) {
    ++best->version;  // cancels its idle check
    BeginService(*best, q, t);
    return;
  }
  while (!recent_starts_.empty() && recent_starts_.front() <= t - 10) recent_starts_.pop_front();
  if (AliveCount() >= r_.max_instances ||
      (r_.max_new_per_10s > 0 && static_cast<int>(recent_starts_.size()) >= r_.max_new_per_10s)) {
    ++res_.rejected;
    return;
  }
  recent_starts_.push_back(t);
  double init = r_.platform_cold_ms + Draw(s_.service.cold_ms);
  int id = StartInstance(t, init);
  insts_[id]->waiting = q;
  if (r_.billing == BillingRule::kPerRequestDuration && r_.init_billed)
    res_.billed_on_demand_s += Billed(init);
}

// --- kUtilization -------------------------------------------------------------------------

void Sim::DrainQueue(double t) {
  while (!queue_.empty()) {
    Instance* best = nullptr;
    for (auto& p : insts_) {
      Instance& in = *p;
      if (!in.alive || !in.ready || static_cast<int>(in.serving.size()) >= r_.concurrency) continue;
      if (best == nullptr || in.serving.size() < best->serving.size() ||
          (in.serving.size() == best->serving.size() && in.idle_since > best->idle_since))
        best = &in;
    }
    if (best == nullptr) return;
    int q = queue_.front();
    queue_.pop_front();
    if (best->serving.empty()) ++best->version;  // cancels its idle check
    BeginService(*best, q, t);
  }
}

void Sim::ActivatorScale(double t) {
  // Requests waiting with no starting instance to take them start instances (as an activator
  // does for a revision at zero).
  int starting_room = 0;
  for (auto& p : insts_)
    if (p->alive && !p->ready) starting_room += r_.concurrency;
  int need = static_cast<int>(queue_.size()) - starting_room;
  while (need > 0 && AliveCount() < r_.max_instances) {
    double init = r_.platform_cold_ms + Draw(s_.service.cold_ms);
    StartInstance(t, init);
    if (r_.init_billed) res_.billed_on_demand_s += Billed(init);
    need -= r_.concurrency;
  }
}

void Sim::ArriveUtilization(int q, double t) {
  load_area_ += load_now_ * (t - load_last_t_);
  load_last_t_ = t;
  ++load_now_;
  queue_.push_back(q);
  DrainQueue(t);
  if (!queue_.empty()) ActivatorScale(t);
}

void Sim::AutoscaleTick(double t) {
  load_area_ += load_now_ * (t - load_last_t_);
  load_last_t_ = t;
  CpuChange(t, 0, 0);
  load_samples_.push_back({t, load_area_, cpu_area_});
  while (load_samples_.size() > 1 && load_samples_.front().t < t - r_.scale_window_s)
    load_samples_.pop_front();
  const LoadSample& first = load_samples_.front();
  double span = t - first.t;
  double load = span > 0 ? (load_area_ - first.load_area) / span : load_now_;
  double cpu = span > 0 ? (cpu_area_ - first.cpu_area) / span : cpu_now_;
  int desired = static_cast<int>(std::ceil(
      load / (r_.concurrency * std::max(0.01, r_.target_concurrency_utilization)) - 1e-9));
  if (r_.target_cpu_utilization > 0) {
    desired = std::max(
        desired, static_cast<int>(
                     std::ceil(cpu / (s_.service.capacity * r_.target_cpu_utilization) - 1e-9)));
  }
  desired = std::min(std::max(desired, s_.min_instances), r_.max_instances);
  for (int i = AliveCount(); i < desired; ++i) {
    double init = r_.platform_cold_ms + Draw(s_.service.cold_ms);
    StartInstance(t, init);
    if (r_.init_billed) res_.billed_on_demand_s += Billed(init);
  }
  if (t + r_.scale_interval_s < t_.duration_s + r_.scale_window_s || !queue_.empty())
    Push(t + r_.scale_interval_s, Event::kScaleTick);
}

// --- kLocal -------------------------------------------------------------------------------

void Sim::ScheduleSchedTick() {
  auto next = sched_->NextDeadline();
  if (!next) return;
  double at = static_cast<double>(*next) / 1e9;
  if (sched_tick_at_ >= 0 && sched_tick_at_ <= at + kEps) return;  // an earlier tick is queued
  sched_tick_at_ = at;
  Push(at, Event::kSchedTick);
}

void Sim::Apply(const SchedActions& acts, double t) {
  for (const SchedAction& a : acts) {
    switch (a.kind) {
      case SchedAction::kStart: {
        int id = starting_min_ ? StartWarmInstance(t)
                               : StartInstance(t, r_.platform_cold_ms + Draw(s_.service.cold_ms));
        insts_[id]->sched_id = a.instance;
        by_sched_id_[a.instance] = id;
        if (starting_min_) {
          Apply(sched_->InstanceReady(a.instance, static_cast<int64_t>(t * 1e9)), t);
        }
        break;
      }
      case SchedAction::kStop:
      case SchedAction::kKill: {
        // The process ends at once (modelfn-fn exits on SIGTERM when idle).
        auto it = by_sched_id_.find(a.instance);
        if (it == by_sched_id_.end()) break;
        StopInstance(*insts_[it->second], t);
        by_sched_id_.erase(it);
        Apply(sched_->InstanceExited(a.instance, Scheduler::Exit::kExited, "",
                                     static_cast<int64_t>(t * 1e9)),
              t);
        break;
      }
      case SchedAction::kDispatch: {
        auto it = by_sched_id_.find(a.instance);
        if (it != by_sched_id_.end())
          BeginService(*insts_[it->second], static_cast<int>(a.request - 1), t);
        break;
      }
      case SchedAction::kReply:
        ++res_.rejected;
        break;
    }
  }
  ScheduleSchedTick();
}

void Sim::ArriveLocal(int q, double t) {
  Apply(sched_->Submit(static_cast<uint64_t>(q) + 1, false, static_cast<int64_t>(t * 1e9)), t);
}

SimResult Sim::Run() {
  const auto& arr = t_.arrivals_s;
  reqs_.resize(arr.size());
  res_.requests = arr.size();
  latencies_.reserve(arr.size());
  if (r_.scale == ScaleKind::kLocal) {
    SchedulerParams p;
    p.function = "plan";
    p.scaling.min_instances = s_.min_instances;
    p.scaling.max_instances = r_.max_instances;
    p.scaling.concurrency = r_.concurrency;
    p.scaling.idle_ttl_ns = static_cast<int64_t>(r_.idle_timeout_s * 1e9);
    p.max_concurrent_inits = std::max(1, r_.max_concurrent_inits);
    p.max_queue = static_cast<size_t>(r_.max_queue);
    p.queue_timeout_ns = static_cast<int64_t>(r_.queue_timeout_s * 1e9);
    p.request_timeout_ns = static_cast<int64_t>(r_.timeout_s * 1e9);
    p.init_timeout_ns = int64_t{3600} * 1'000'000'000;
    sched_ = std::make_unique<Scheduler>(p);
    // The min instances are warm before the window opens, as on the platform (started with it)
    // and as the clouds' provisioned instances: ready at 0, not initialising.
    starting_min_ = true;
    Apply(sched_->Start(0), 0);
    starting_min_ = false;
  } else {
    for (int i = 0; i < s_.min_instances; ++i) {
      StartWarmInstance(0);
    }
    if (r_.scale == ScaleKind::kUtilization) Push(r_.scale_interval_s, Event::kScaleTick);
  }
  size_t next = 0;
  while (next < arr.size() || !events_.empty()) {
    bool take_arrival = next < arr.size() && (events_.empty() || arr[next] <= events_.top().t);
    if (take_arrival) {
      double t = arr[next];
      int q = static_cast<int>(next++);
      reqs_[q].arrival = t;
      reqs_[q].work_ms = Draw(s_.service.run_ms);
      switch (r_.scale) {
        case ScaleKind::kPerRequest:
          ArrivePerRequest(q, t);
          break;
        case ScaleKind::kUtilization:
          ArriveUtilization(q, t);
          break;
        case ScaleKind::kLocal:
          ArriveLocal(q, t);
          break;
      }
      continue;
    }
    Event e = events_.top();
    events_.pop();
    if (e.kind == Event::kScaleTick) {
      if (next >= arr.size() && queue_.empty() && load_now_ == 0) continue;
      AutoscaleTick(e.t);
      continue;
    }
    if (e.kind == Event::kSchedTick) {
      if (std::abs(e.t - sched_tick_at_) > kEps) continue;  // superseded
      sched_tick_at_ = -1;
      // Past the traffic with nothing in flight, the scheduler's timers only stop instances.
      Apply(sched_->Tick(static_cast<int64_t>(std::llround(e.t * 1e9))), e.t);
      continue;
    }
    Instance& in = *insts_[e.instance];
    if (!in.alive) continue;
    switch (e.kind) {
      case Event::kReady:
        in.ready = true;
        in.idle_since = e.t;
        if (r_.scale == ScaleKind::kLocal) {
          Apply(sched_->InstanceReady(in.sched_id, static_cast<int64_t>(e.t * 1e9)), e.t);
        } else if (in.waiting >= 0) {
          int q = in.waiting;
          in.waiting = -1;
          BeginService(in, q, e.t);
        } else {
          DrainQueue(e.t);
          MaybeIdle(in, e.t);
        }
        break;
      case Event::kCompletion:
        if (e.version == in.version) Complete(in, e.t);
        break;
      case Event::kIdleCheck:
        if (e.version == in.version && in.serving.empty() && !in.is_min &&
            e.t - in.idle_since >= r_.idle_timeout_s - kEps)
          StopInstance(in, e.t);
        break;
      default:
        break;
    }
  }
  // Lifetimes to the end of the window (or of the last event).
  double end = t_.duration_s;
  for (auto& p : insts_) {
    if (p->alive) {
      res_.instance_alive_s += std::max(0.0, end - p->born);
      if (p->is_min) res_.min_alive_s += std::max(0.0, end - p->born);
    }
  }
  if (!latencies_.empty()) {
    auto pct = [&](double p) {
      size_t k = std::min(latencies_.size() - 1,
                          static_cast<size_t>(std::ceil(p / 100 * latencies_.size())) - 1);
      std::nth_element(latencies_.begin(), latencies_.begin() + k, latencies_.end());
      return static_cast<double>(latencies_[k]);
    };
    double sum = 0;
    for (float x : latencies_) sum += x;
    res_.mean_ms = sum / latencies_.size();
    res_.p50_ms = pct(50);
    res_.p95_ms = pct(95);
    res_.p99_ms = pct(99);
  }
  // Fill the timeline's tail.
  for (size_t i = last_bucket_ + 1; i < res_.timeline.size(); ++i) res_.timeline[i] = alive_;
  return res_;
}

}  // namespace

StatusOr<SimResult> Simulate(const SimSetup& setup, const Traffic& traffic) {
  if (setup.service.run_ms.empty() || setup.service.cold_ms.empty())
    return InvalidArgumentError("simulate: the service model has no samples");
  if (setup.rules.max_instances < 1) return InvalidArgumentError("simulate: max_instances < 1");
  if (setup.rules.concurrency < 1) return InvalidArgumentError("simulate: concurrency < 1");
  if (setup.min_instances < 0 || setup.min_instances > setup.rules.max_instances)
    return InvalidArgumentError("simulate: min instances outside 0..max_instances");
  Sim sim(setup, traffic);
  return sim.Run();
}

}  // namespace plan
}  // namespace modelfn
