#include "pool/pool.h"

#include <unistd.h>

#include <algorithm>

#include "common/cpu_quota.h"
#include "http/problem.h"
#include "pool/held_batch.h"
#include "pool/process_launcher.h"
#include "pool/template_launcher.h"

namespace modelfn {
namespace {

constexpr int64_t kMs = 1'000'000;

const char* StateName(Scheduler::State s, int active) {
  switch (s) {
    case Scheduler::State::kStopping:
      return "stopping";
    case Scheduler::State::kStarting:
      return "starting";
    case Scheduler::State::kReady:
      break;
  }
  return active > 0 ? "busy" : "idle";
}

SchedulerParams ParamsFor(const FunctionConfig& fn, const PoolEnv& env) {
  SchedulerParams p;
  p.function = fn.name;
  p.scaling.min_instances = fn.min_instances;
  p.scaling.max_instances = fn.max_instances;
  p.scaling.concurrency = fn.mode == InstanceMode::kLambda ? 1 : fn.concurrency;
  p.scaling.idle_ttl_ns = static_cast<int64_t>(fn.idle_ttl_s * 1e9);
  p.max_concurrent_inits =
      env.max_concurrent_inits > 0 ? env.max_concurrent_inits : ReadCpuQuota().EffectiveCpus();
  p.max_queue = static_cast<size_t>(fn.max_queue);
  p.queue_timeout_ns = static_cast<int64_t>(fn.queue_timeout_s * 1e9);
  p.request_timeout_ns = static_cast<int64_t>(fn.timeout_s * 1e9);
  p.init_timeout_ns = int64_t{env.init_timeout_ms} * kMs;
  p.stop_grace_ns = int64_t{env.stop_grace_ms} * kMs;
  p.memory_mb = fn.memory_mb;
  p.timeout_s = fn.timeout_s;
  p.queue_timeout_s = fn.queue_timeout_s;
  return p;
}

}  // namespace

InstancePool::InstancePool(FunctionConfig fn, std::string version, const PoolEnv& env)
    : fn_(std::move(fn)),
      env_(env),
      launcher_(env.launcher),
      slots_(env.init_slots != nullptr ? env.init_slots : &InitSlots::Host()),
      version_(std::move(version)),
      sched_(ParamsFor(fn_, env_)) {
  if (launcher_ == nullptr) {
    if (env_.templates && fn_.start != StartMode::kExec && fn_.command.empty()) {
      own_launcher_ = std::make_unique<TemplateLauncher>(fn_, env_);
    } else {
      own_launcher_ = std::make_unique<ProcessLauncher>(fn_, env_);
    }
    launcher_ = own_launcher_.get();
  }
}

InstancePool::~InstancePool() { Shutdown(); }

ForwardReply InstancePool::ProblemReply(const std::string& code, const std::string& detail) const {
  Problem p = MakeProblem(code, detail);
  ForwardReply r;
  r.status = p.status;
  r.content_type = std::string(kProblemContentType);
  r.body = p.ToJson();
  r.code = p.code;
  if (p.status == 429 || p.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

void InstancePool::Start() {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SyncInitRoomLocked();
    launcher_->UseVersion(version_);
    ApplyLocked(sched_.Start(env_.clock->MonotonicNanos()), &d);
  }
  launcher_->Prepare();
  d.Run();
}

std::string InstancePool::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

void InstancePool::SetVersion(const std::string& version) {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (version == version_ || shutdown_) return;
    version_ = version;
    launcher_->UseVersion(version_);
    SyncInitRoomLocked();
    ApplyLocked(sched_.NewVersion(env_.clock->MonotonicNanos()), &d);
  }
  d.Run();
}

void InstancePool::Submit(ForwardRequest request, ReplyFn done) {
  int8_t mergeable = -1;
  if (fn_.held_batch > 1 && would_queue_.load(std::memory_order_relaxed)) {
    mergeable = HeldMergeable(request) ? 1 : 0;
  }
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t now = env_.clock->MonotonicNanos();
    if (request.arrived_ns == 0) request.arrived_ns = now;
    uint64_t rid = next_request_++;
    // Sending a GET or HEAD twice changes nothing a second try would not: those are retried even
    // when the instance may have seen them.
    bool idempotent = request.method == "GET" || request.method == "HEAD";
    Request& r = requests_[rid];
    r.request = std::make_shared<const ForwardRequest>(std::move(request));
    r.done = std::move(done);
    r.mergeable = mergeable;
    SyncInitRoomLocked();
    ApplyLocked(sched_.Submit(rid, idempotent, now), &d);
    NoteQueueLocked();
  }
  d.Run();
}

void InstancePool::ApplyLocked(const SchedActions& actions, Deferred* d) {
  for (const SchedAction& a : actions) {
    switch (a.kind) {
      case SchedAction::kStart:
        LaunchLocked(a, d);
        break;
      case SchedAction::kStop:
        if (auto it = instances_.find(a.instance); it != instances_.end()) {
          it->second.instance->Stop();
        }
        break;
      case SchedAction::kKill:
        if (auto it = instances_.find(a.instance); it != instances_.end()) {
          it->second.instance->Kill();
        }
        break;
      case SchedAction::kDispatch: {
        auto in = instances_.find(a.instance);
        auto req = requests_.find(a.request);
        if (in == instances_.end() || req == requests_.end()) break;
        Request& r = req->second;
        if (r.request->client_gone != nullptr &&
            r.request->client_gone->load(std::memory_order_relaxed)) {
          // The client left while the request waited: no instance time is spent on it, and the
          // instance's slot goes to the next one at once.
          SchedActions next;
          if (sched_.RequestDone(a.request, env_.clock->MonotonicNanos(), &next)) {
            ++sched_.counters().abandoned;
            ReplyLocked(a.request,
                        ProblemReply("client_closed",
                                     "the client closed the connection while the request waited "
                                     "for an instance"),
                        d);
          }
          ApplyLocked(next, d);
          break;
        }
        SendLocked(a, in->second, d);
        break;
      }
      case SchedAction::kReply:
        ReplyLocked(a.request, ProblemReply(a.code, a.detail), d);
        break;
    }
  }
}

bool InstancePool::MergeableLocked(Request& r) {
  if (r.mergeable < 0) r.mergeable = HeldMergeable(*r.request) ? 1 : 0;
  return r.mergeable == 1 && !r.solo;
}

void InstancePool::SendLocked(const SchedAction& a, Live& in, Deferred* d) {
  const int64_t now = env_.clock->MonotonicNanos();
  auto mark = [&](Request& r, bool cold) {
    r.dispatched = true;
    r.cold = r.cold || cold;
    r.dispatched_ns = now;
    r.instance_name = in.name;
    r.version = in.version;
  };
  Request& lead = requests_.at(a.request);
  mark(lead, a.cold);
  std::shared_ptr<const ForwardRequest> request = lead.request;
  if (fn_.held_batch > 1 && sched_.queued() > 0 && MergeableLocked(lead)) {
    size_t bytes = lead.request->body.size();
    auto take = [&](uint64_t queued) {
      auto it = requests_.find(queued);
      if (it == requests_.end()) return false;
      Request& q = it->second;
      const ForwardRequest& fr = *q.request;
      if (fr.client_gone != nullptr && fr.client_gone->load(std::memory_order_relaxed)) {
        return false;  // answered 499 at its own dispatch
      }
      if (bytes + fr.body.size() > kHeldBatchMaxBytes || !MergeableLocked(q)) return false;
      bytes += fr.body.size() + 1;
      return true;
    };
    std::vector<Scheduler::Rider> riders =
        sched_.Attach(a.request, static_cast<size_t>(fn_.held_batch - 1), take, now);
    if (!riders.empty()) {
      std::vector<std::shared_ptr<const ForwardRequest>> members{lead.request};
      std::vector<uint64_t>& ids = riders_[a.request];
      for (const Scheduler::Rider& rider : riders) {
        Request& r = requests_.at(rider.request);
        mark(r, rider.cold);
        members.push_back(r.request);
        ids.push_back(rider.request);
      }
      ForwardRequest merged = MergeHeld(members);
      merged.timeout_s = fn_.timeout_s * static_cast<double>(members.size());
      request = std::make_shared<const ForwardRequest>(std::move(merged));
      ++sched_.counters().held_batches;
      sched_.counters().CountHeld(members.size());
    }
  }
  uint64_t rid = a.request, iid = a.instance;
  d->work.emplace_back([this, inst = in.instance, rid, iid, request = std::move(request)] {
    inst->Send(rid, request,
               [this, rid, iid](InstanceResult result) { OnResult(rid, iid, result); });
  });
}

void InstancePool::FailSentLocked(uint64_t rid, bool reached, const std::string& code,
                                  const std::string& detail, int64_t now, Deferred* d) {
  std::vector<uint64_t> members{rid};
  if (auto g = riders_.find(rid); g != riders_.end()) {
    members.insert(members.end(), g->second.begin(), g->second.end());
    riders_.erase(g);
  }
  // Back in their order: each retried one goes to the front of the queue.
  for (auto m = members.rbegin(); m != members.rend(); ++m) {
    ApplyLocked(sched_.RequestFailed(*m, reached, code, detail, now), d);
  }
}

void InstancePool::SplitLocked(const std::vector<uint64_t>& members, InstanceResult result,
                               int64_t now, Deferred* d) {
  auto answers = result.kind == InstanceResult::kAnswered && !result.function_error
                     ? SplitHeld(result.reply, members.size())
                     : StatusOr<std::vector<HeldAnswer>>(
                           Status(StatusCode::kFailedPrecondition, "function error"));
  std::vector<uint64_t> resend;
  if (!answers.ok()) {
    ++sched_.counters().held_resends;
    resend = members;
  } else {
    for (size_t i = 0; i < members.size(); ++i) {
      if ((*answers)[i].resend) {
        resend.push_back(members[i]);
        continue;
      }
      SchedActions next;
      if (sched_.RequestDone(members[i], now, &next)) {
        ++sched_.counters().held_requests;
        ReplyLocked(members[i], std::move((*answers)[i].reply), d);
      }
      ApplyLocked(next, d);
    }
  }
  for (uint64_t m : resend) {
    if (auto it = requests_.find(m); it != requests_.end()) it->second.solo = true;
  }
  for (auto m = resend.rbegin(); m != resend.rend(); ++m) ApplyLocked(sched_.GiveBack(*m, now), d);
}

void InstancePool::ReplyLocked(uint64_t rid, ForwardReply reply, Deferred* d) {
  riders_.erase(rid);
  auto it = requests_.find(rid);
  if (it == requests_.end()) return;
  Request r = std::move(it->second);
  requests_.erase(it);
  if (r.dispatched) {
    reply.instance = r.instance_name;
    reply.version = r.version;
    reply.cold_start = r.cold;
    reply.queue_ms = static_cast<double>(r.dispatched_ns - r.request->arrived_ns) / 1e6;
  }
  d->Reply(std::move(r.done), std::move(reply));
}

void InstancePool::LaunchLocked(const SchedAction& start, Deferred* d) {
  LaunchRequest lr;
  lr.id = start.instance;
  lr.version = version_;
  lr.name = fn_.name + "-" + version_ + "-" + std::to_string(start.instance);
  lr.prewarmed = start.prewarmed;
  uint64_t iid = start.instance;
  InstanceEvents events;
  events.ready = [this, iid] { OnReady(iid); };
  events.init_error = [this](std::string message) { OnInitError(std::move(message)); };
  slots_->Take();
  holding_slot_.insert(iid);
  auto launched = launcher_->Launch(lr, std::move(events));
  if (!launched.ok()) {
    GiveSlotLocked(iid);
    sched_.set_init_error(launched.status().message());
    ApplyLocked(sched_.InstanceExited(iid, Scheduler::Exit::kExited, launched.status().message(),
                                      env_.clock->MonotonicNanos()),
                d);
    return;
  }
  instances_[iid] = Live{std::move(launched).value(), lr.name, lr.version};
}

void InstancePool::OnReady(uint64_t instance) {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    GiveSlotLocked(instance);
    SyncInitRoomLocked();
    ApplyLocked(sched_.InstanceReady(instance, env_.clock->MonotonicNanos()), &d);
    NoteQueueLocked();
  }
  d.Run();
}

void InstancePool::OnInitError(std::string message) {
  std::lock_guard<std::mutex> lock(mu_);
  sched_.set_init_error(std::move(message));
}

void InstancePool::OnResult(uint64_t rid, uint64_t instance, InstanceResult result) {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A late word from an instance the request has since left (timed out, retried elsewhere).
    if (sched_.InstanceOf(rid) != instance) return;
    int64_t now = env_.clock->MonotonicNanos();
    SyncInitRoomLocked();
    if (auto g = riders_.find(rid);
        g != riders_.end() && result.kind == InstanceResult::kAnswered) {
      std::vector<uint64_t> members{rid};
      members.insert(members.end(), g->second.begin(), g->second.end());
      riders_.erase(g);
      SplitLocked(members, std::move(result), now, &d);
    } else if (result.kind == InstanceResult::kAnswered) {
      SchedActions next;
      if (sched_.RequestDone(rid, now, &next)) {
        if (result.function_error) ++sched_.counters().function_errors;
        ReplyLocked(rid, std::move(result.reply), &d);
      }
      ApplyLocked(next, &d);
    } else {
      bool reached = result.kind == InstanceResult::kFailed;
      FailSentLocked(rid, reached, result.code, result.detail, now, &d);
    }
    NoteQueueLocked();
  }
  d.Run();
}

// Instances whose process is gone: what they never took goes elsewhere, what they held is
// answered, their resources are released after the lock.
void InstancePool::ReapLocked(Deferred* d) {
  std::vector<std::pair<uint64_t, Scheduler::Exit>> exited;
  for (auto& [id, live] : instances_) {
    if (auto how = live.instance->PollExit()) exited.emplace_back(id, *how);
  }
  for (const auto& [id, how] : exited) GiveSlotLocked(id);
  SyncInitRoomLocked();
  int64_t now = env_.clock->MonotonicNanos();
  for (const auto& [id, how] : exited) {
    std::shared_ptr<Instance> gone = instances_.at(id).instance;
    for (uint64_t rid : gone->TakeUnreached()) {
      FailSentLocked(rid, /*reached=*/false, "instance_crashed",
                     "the instance exited before it took this request", now, d);
    }
    std::string init_error;
    if (sched_.last_init_error().empty()) {
      init_error = "the instance exited during init; see " + env_.log_dir + "/" + fn_.name + ".log";
    }
    instances_.erase(id);
    ApplyLocked(sched_.InstanceExited(id, how, init_error, now), d);
    d->work.emplace_back([gone] { gone->Close(); });
  }
}

void InstancePool::Tick() {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ReapLocked(&d);
    SyncInitRoomLocked();
    ApplyLocked(sched_.Tick(env_.clock->MonotonicNanos()), &d);
    NoteQueueLocked();
  }
  d.Run();
}

std::optional<int64_t> InstancePool::NextDeadline() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sched_.NextDeadline();
}

PoolSnapshot InstancePool::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  PoolSnapshot s;
  s.function = fn_.name;
  s.version = version_;
  s.mode = fn_.mode == InstanceMode::kLambda ? "lambda" : "http";
  s.queued = sched_.queued();
  s.counters = sched_.counters();
  s.last_init_error = sched_.last_init_error();
  s.template_state = launcher_->template_state();
  int64_t now = env_.clock->MonotonicNanos();
  for (const auto& [id, st] : sched_.instances()) {
    auto live = instances_.find(id);
    if (live == instances_.end()) continue;  // being launched
    InstanceInfo i;
    i.name = live->second.name;
    i.pid = live->second.instance->pid();
    i.state = StateName(st.state, st.active);
    i.version = live->second.version;
    i.active = st.active;
    i.served = st.served;
    i.age_s = static_cast<double>(now - st.started_ns) / 1e9;
    i.init_ms = st.ready_ns ? static_cast<double>(st.ready_ns - st.started_ns) / 1e6 : 0;
    i.prewarmed = st.prewarmed;
    i.forked = live->second.instance->forked();
    if (st.state == Scheduler::State::kStopping) {
      ++s.stopping;
    } else if (st.state == Scheduler::State::kStarting) {
      ++s.starting;
    } else if (st.active > 0) {
      ++s.busy;
    } else {
      ++s.idle;
    }
    s.instances.push_back(std::move(i));
  }
  return s;
}

void InstancePool::Shutdown() {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ && instances_.empty()) return;
    shutdown_ = true;
    launcher_->Shutdown();
    ApplyLocked(sched_.Shutdown(env_.clock->MonotonicNanos()), &d);
  }
  d.Run();
  // The grace period: in-flight requests may still finish. Real time, not the injected clock:
  // this waits for processes, not for anything a test drives.
  for (int waited = 0;; waited += 10) {
    Deferred reaped;
    bool left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ReapLocked(&reaped);
      left = !instances_.empty();
      if (left && waited >= env_.stop_grace_ms) {
        for (auto& [id, live] : instances_) live.instance->Kill();
      }
    }
    reaped.Run();
    if (!left) break;
    usleep(waited >= env_.stop_grace_ms ? 1'000 : 10'000);
  }
  Deferred last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ApplyLocked(sched_.FailInFlight("shutting_down", "the platform is shutting down"), &last);
  }
  last.Run();
}

}  // namespace modelfn
