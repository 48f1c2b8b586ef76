#include "pool/scheduler.h"

#include <algorithm>

#include "common/json.h"

namespace modelfn {

Scheduler::Scheduler(SchedulerParams params) : p_(std::move(params)) {}

std::vector<InstanceView> Scheduler::Views() const {
  std::vector<InstanceView> v;
  v.reserve(instances_.size());
  for (const auto& [id, in] : instances_) {
    InstanceView x;
    x.id = id;
    x.ready = in.state == State::kReady;
    x.current = in.generation == generation_;
    x.stopping = in.state == State::kStopping;
    x.active = in.active;
    x.idle_since_ns = in.idle_since_ns;
    v.push_back(x);
  }
  return v;
}

int Scheduler::Starting() const {
  int n = 0;
  for (const auto& [id, in] : instances_) n += in.state == State::kStarting ? 1 : 0;
  return n;
}

uint64_t Scheduler::InstanceOf(uint64_t request) const {
  auto it = inflight_.find(request);
  return it == inflight_.end() ? 0 : it->second.instance;
}

void Scheduler::Reply(uint64_t request, const std::string& code, const std::string& detail,
                      SchedActions* out) {
  SchedAction a;
  a.kind = SchedAction::kReply;
  a.request = request;
  a.code = code;
  a.detail = detail;
  out->push_back(std::move(a));
}

void Scheduler::FailQueued(const std::string& code, const std::string& detail, SchedActions* out) {
  while (!queue_.empty()) {
    Reply(queue_.front().id, code, detail, out);
    queue_.pop_front();
  }
}

void Scheduler::StartOne(bool prewarmed, int64_t now, SchedActions* out) {
  uint64_t id = next_instance_++;
  InstanceState in;
  in.generation = generation_;
  in.prewarmed = prewarmed;
  in.started_ns = now;
  in.idle_since_ns = now;
  instances_.emplace(id, in);
  ++counters_.inits;
  if (prewarmed) ++counters_.prewarmed_inits;
  SchedAction a;
  a.kind = SchedAction::kStart;
  a.instance = id;
  a.prewarmed = prewarmed;
  out->push_back(std::move(a));
}

void Scheduler::Kill(uint64_t instance, const std::string& reason, int64_t now, SchedActions* out) {
  auto it = instances_.find(instance);
  if (it == instances_.end()) return;
  InstanceState& in = it->second;
  if (in.stop_reason.empty()) in.stop_reason = reason;
  if (in.state != State::kStopping) {
    in.state = State::kStopping;
    in.stop_ns = now;
  }
  if (in.killed) return;
  in.killed = true;
  SchedAction a;
  a.kind = SchedAction::kKill;
  a.instance = instance;
  a.code = reason;
  out->push_back(std::move(a));
}

SchedActions Scheduler::Start(int64_t now) {
  SchedActions out;
  Scale(now, &out);
  return out;
}

SchedActions Scheduler::Submit(uint64_t id, bool idempotent, int64_t now) {
  SchedActions out;
  ++counters_.requests;
  if (shutdown_) {
    Reply(id, "shutting_down", "the platform is shutting down", &out);
    return out;
  }
  if (now < refuse_until_ns_) {
    Reply(id, "init_failed",
          "function " + p_.function + " failed to initialise: " + last_init_error_, &out);
    return out;
  }
  const ScalingParams& s = p_.scaling;
  auto views = Views();
  bool free_slot = PickInstance(s, views).has_value();
  size_t starting_slots = 0;
  int live = 0;
  for (const auto& v : views) {
    if (v.stopping) continue;
    ++live;
    if (!v.ready && v.active == 0) starting_slots += static_cast<size_t>(s.concurrency);
  }
  size_t can_start = static_cast<size_t>(std::max(0, s.max_instances - live));
  size_t limit = p_.max_queue + starting_slots + can_start * static_cast<size_t>(s.concurrency);
  if (!free_slot && queue_.size() >= limit) {
    ++counters_.throttled;
    Reply(id, "throttled",
          "all " + std::to_string(s.max_instances) + " instances of " + p_.function +
              " are busy and the queue is full",
          &out);
    return out;
  }
  Waiting w;
  w.id = id;
  w.idempotent = idempotent;
  w.arrived_ns = now;
  w.deadline_ns = now + p_.queue_timeout_ns;
  queue_.push_back(w);
  Dispatch(now, &out);
  Scale(now, &out);
  return out;
}

void Scheduler::Dispatch(int64_t now, SchedActions* out) {
  while (!queue_.empty()) {
    auto pick = PickInstance(p_.scaling, Views());
    if (!pick) return;
    Waiting w = queue_.front();
    queue_.pop_front();
    InstanceState& in = instances_.at(*pick);
    ++in.active;
    ++in.served;
    ++w.attempts;
    SchedAction a;
    a.kind = SchedAction::kDispatch;
    a.instance = *pick;
    a.request = w.id;
    a.cold = w.arrived_ns < in.ready_ns;
    a.queued_ns = now - w.arrived_ns;
    if (a.cold && !w.cold_counted) {
      ++counters_.cold_requests;
      w.cold_counted = true;
    }
    InFlight f;
    f.w = w;
    f.instance = *pick;
    f.deadline_ns = now + p_.request_timeout_ns;
    inflight_[w.id] = f;
    out->push_back(std::move(a));
  }
}

void Scheduler::Scale(int64_t now, SchedActions* out) {
  if (shutdown_ || now < backoff_until_ns_) return;
  ScaleDecision dec = DecideScale(p_.scaling, Views(), queue_.size(), now);
  for (uint64_t id : dec.stop) {
    InstanceState& in = instances_.at(id);
    in.state = State::kStopping;
    in.stop_ns = now;
    in.stop_reason = "stopped";
    SchedAction a;
    a.kind = SchedAction::kStop;
    a.instance = id;
    out->push_back(std::move(a));
  }
  int room = std::min(std::max(1, p_.max_concurrent_inits) - Starting(), host_init_room_);
  int start = std::min(dec.start, std::max(0, room));
  host_init_room_ -= start;
  bool prewarm = queue_.empty();
  for (int i = 0; i < start; ++i) StartOne(prewarm, now, out);
}

SchedActions Scheduler::InstanceReady(uint64_t instance, int64_t now) {
  SchedActions out;
  auto it = instances_.find(instance);
  if (it == instances_.end() || it->second.state != State::kStarting) return out;
  it->second.state = State::kReady;
  it->second.ready_ns = now;
  it->second.idle_since_ns = now;
  Dispatch(now, &out);
  Scale(now, &out);  // an init slot is free
  return out;
}

bool Scheduler::RequestDone(uint64_t request, int64_t now, SchedActions* out) {
  auto it = inflight_.find(request);
  if (it == inflight_.end()) return false;
  uint64_t instance = it->second.instance;
  inflight_.erase(it);
  auto in = instances_.find(instance);
  if (in != instances_.end()) {
    in->second.active = std::max(0, in->second.active - 1);
    if (in->second.active == 0) in->second.idle_since_ns = now;
  }
  Dispatch(now, out);
  return true;
}

std::vector<Scheduler::Rider> Scheduler::Attach(uint64_t leader, size_t max,
                                                const std::function<bool(uint64_t)>& take,
                                                int64_t now) {
  std::vector<Rider> riders;
  auto lead = inflight_.find(leader);
  if (lead == inflight_.end()) return riders;
  const uint64_t instance = lead->second.instance;
  InstanceState& in = instances_.at(instance);
  for (auto it = queue_.begin(); it != queue_.end() && riders.size() < max;) {
    if (!take(it->id)) {
      ++it;
      continue;
    }
    Waiting w = *it;
    it = queue_.erase(it);
    ++in.active;
    ++in.served;
    ++w.attempts;
    Rider r;
    r.request = w.id;
    r.cold = w.arrived_ns < in.ready_ns;
    if (r.cold && !w.cold_counted) {
      ++counters_.cold_requests;
      w.cold_counted = true;
    }
    InFlight f;
    f.w = w;
    f.instance = instance;
    inflight_[w.id] = f;
    riders.push_back(r);
  }
  if (!riders.empty()) {
    const int64_t deadline = now + static_cast<int64_t>(riders.size() + 1) * p_.request_timeout_ns;
    lead->second.deadline_ns = deadline;
    for (const Rider& r : riders) inflight_[r.request].deadline_ns = deadline;
  }
  return riders;
}

SchedActions Scheduler::GiveBack(uint64_t request, int64_t now) {
  SchedActions out;
  auto it = inflight_.find(request);
  if (it == inflight_.end()) return out;
  InFlight f = it->second;
  inflight_.erase(it);
  if (auto in = instances_.find(f.instance); in != instances_.end()) {
    in->second.active = std::max(0, in->second.active - 1);
    if (in->second.served > 0) --in->second.served;
    if (in->second.active == 0) in->second.idle_since_ns = now;
  }
  f.w.attempts = std::max(0, f.w.attempts - 1);
  f.w.deadline_ns = std::max(f.w.deadline_ns, now + p_.queue_timeout_ns);
  queue_.push_front(f.w);
  Dispatch(now, &out);
  return out;
}

SchedActions Scheduler::RequestFailed(uint64_t request, bool reached, const std::string& code,
                                      const std::string& detail, int64_t now) {
  SchedActions out;
  auto it = inflight_.find(request);
  if (it == inflight_.end()) return out;
  InFlight f = it->second;
  inflight_.erase(it);
  auto in = instances_.find(f.instance);
  if (in != instances_.end()) {
    in->second.active = std::max(0, in->second.active - 1);
    Kill(f.instance, code == "out_of_memory" ? "out_of_memory" : "crashed", now, &out);
  }
  bool retry = (!reached || f.w.idempotent) && f.w.attempts < p_.max_attempts && !shutdown_;
  if (retry) {
    ++counters_.retries;
    f.w.deadline_ns = std::max(f.w.deadline_ns, now + p_.queue_timeout_ns);
    queue_.push_front(f.w);
  } else {
    if (code == "out_of_memory") {
      ++counters_.out_of_memory;
    } else if (code == "instance_crashed") {
      ++counters_.crashes;
    }
    Reply(request, code, detail, &out);
  }
  Dispatch(now, &out);
  Scale(now, &out);
  return out;
}

SchedActions Scheduler::InstanceExited(uint64_t instance, Exit how, const std::string& init_error,
                                       int64_t now) {
  SchedActions out;
  auto it = instances_.find(instance);
  if (it == instances_.end()) return out;
  const InstanceState in = it->second;
  bool oom = how == Exit::kOutOfMemory;
  std::vector<uint64_t> held;
  for (const auto& [rid, f] : inflight_) {
    if (f.instance == instance) held.push_back(rid);
  }
  std::sort(held.begin(), held.end());
  for (uint64_t rid : held) {
    Waiting w = inflight_.at(rid).w;
    inflight_.erase(rid);
    if (w.idempotent && w.attempts < p_.max_attempts && !shutdown_) {
      ++counters_.retries;
      w.deadline_ns = std::max(w.deadline_ns, now + p_.queue_timeout_ns);
      queue_.push_front(w);
      continue;
    }
    if (oom) {
      ++counters_.out_of_memory;
      Reply(rid, "out_of_memory",
            "instance exceeded memory_mb=" + std::to_string(p_.memory_mb) + " and was killed",
            &out);
    } else {
      ++counters_.crashes;
      Reply(rid, "instance_crashed", "the instance serving this request exited mid-request", &out);
    }
  }
  bool unexpected = in.stop_reason.empty() && in.state != State::kStopping;
  bool init_failed = unexpected && in.state == State::kStarting;
  if (held.empty() && unexpected) {
    if (init_failed) {
      ++counters_.init_failures;
      if (!init_error.empty()) last_init_error_ = init_error;
    } else if (oom) {
      ++counters_.out_of_memory;
    } else {
      ++counters_.crashes;
    }
  }
  instances_.erase(it);
  if (init_failed) {
    // No restart loop: no new instance for a while; with no other instance left, requests fail
    // fast meanwhile.
    backoff_until_ns_ = now + p_.init_backoff_ns;
    bool others = false;
    for (const auto& [id, o] : instances_) others = others || o.state != State::kStopping;
    if (!others) {
      refuse_until_ns_ = backoff_until_ns_;
      FailQueued("init_failed",
                 "function " + p_.function + " failed to initialise: " + last_init_error_, &out);
    }
  }
  Dispatch(now, &out);
  Scale(now, &out);
  return out;
}

SchedActions Scheduler::NewVersion(int64_t now) {
  SchedActions out;
  if (shutdown_) return out;
  ++generation_;
  Scale(now, &out);
  return out;
}

SchedActions Scheduler::Tick(int64_t now) {
  SchedActions out;
  if (backoff_until_ns_ != 0 && now >= backoff_until_ns_) backoff_until_ns_ = 0;
  if (refuse_until_ns_ != 0 && now >= refuse_until_ns_) refuse_until_ns_ = 0;
  // Timeouts: 504, and the instance is killed (replaced on demand).
  std::vector<uint64_t> late;
  for (const auto& [rid, f] : inflight_) {
    if (now >= f.deadline_ns) late.push_back(rid);
  }
  std::sort(late.begin(), late.end());
  for (uint64_t rid : late) {
    uint64_t instance = inflight_.at(rid).instance;
    inflight_.erase(rid);
    ++counters_.timeouts;
    auto in = instances_.find(instance);
    if (in != instances_.end()) in->second.active = std::max(0, in->second.active - 1);
    Kill(instance, "timeout", now, &out);
    Reply(rid, "timeout",
          "the function did not answer within timeout_s=" + Json::Double(p_.timeout_s).Dump(),
          &out);
  }
  for (auto& [id, in] : instances_) {
    if (in.state == State::kStopping && !in.killed && now - in.stop_ns >= p_.stop_grace_ns) {
      Kill(id, in.stop_reason.empty() ? "stopped" : in.stop_reason, now, &out);
    } else if (in.state == State::kStarting && now - in.started_ns >= p_.init_timeout_ns) {
      last_init_error_ =
          "init did not finish within " + std::to_string(p_.init_timeout_ns / 1'000'000) + " ms";
      ++counters_.init_failures;
      Kill(id, "init_timeout", now, &out);
    }
  }
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (now < it->deadline_ns) {
      ++it;
      continue;
    }
    ++counters_.queue_timeouts;
    Reply(it->id, "overloaded",
          "no instance of " + p_.function +
              " was free within queue_timeout_s=" + Json::Double(p_.queue_timeout_s).Dump(),
          &out);
    it = queue_.erase(it);
  }
  Dispatch(now, &out);
  Scale(now, &out);
  return out;
}

SchedActions Scheduler::Shutdown(int64_t now) {
  SchedActions out;
  shutdown_ = true;
  FailQueued("shutting_down", "the platform is shutting down", &out);
  for (auto& [id, in] : instances_) {
    if (in.state == State::kStopping) continue;
    in.state = State::kStopping;
    in.stop_ns = now;
    in.stop_reason = "shutdown";
    SchedAction a;
    a.kind = SchedAction::kStop;
    a.instance = id;
    out.push_back(std::move(a));
  }
  return out;
}

SchedActions Scheduler::FailInFlight(const std::string& code, const std::string& detail) {
  SchedActions out;
  std::vector<uint64_t> ids;
  for (const auto& [rid, f] : inflight_) ids.push_back(rid);
  std::sort(ids.begin(), ids.end());
  for (uint64_t rid : ids) Reply(rid, code, detail, &out);
  inflight_.clear();
  return out;
}

std::optional<int64_t> Scheduler::NextDeadline() const {
  std::optional<int64_t> next;
  auto consider = [&next](int64_t t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& [rid, f] : inflight_) consider(f.deadline_ns);
  for (const auto& w : queue_) consider(w.deadline_ns);
  if (backoff_until_ns_ > 0 && !shutdown_) consider(backoff_until_ns_);
  int current = 0;
  for (const auto& [id, in] : instances_) {
    current += in.state != State::kStopping && in.generation == generation_ ? 1 : 0;
  }
  for (const auto& [id, in] : instances_) {
    if (in.state == State::kStopping && !in.killed) consider(in.stop_ns + p_.stop_grace_ns);
    if (in.state == State::kStarting) consider(in.started_ns + p_.init_timeout_ns);
    if (in.state == State::kReady && in.active == 0 && in.generation == generation_ &&
        current > p_.scaling.min_instances) {
      consider(in.idle_since_ns + p_.scaling.idle_ttl_ns);
    }
  }
  return next;
}

}  // namespace modelfn
