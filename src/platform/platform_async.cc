#include "platform/platform_async.h"

#include <utility>

#include "common/json.h"
#include "http/http_client.h"
#include "store/aws_auth.h"

namespace modelfn {

StatusOr<std::unique_ptr<PlatformAsync>> PlatformAsync::Open(
    const std::string& state_dir, const Clock* clock,
    std::function<void(const std::string&, const std::string&)> log) {
  std::unique_ptr<PlatformAsync> a(new PlatformAsync());
  a->clock_ = clock;
  a->log_ = log;
  ASSIGN_OR_RETURN(a->store_, events::AsyncStore::Open(state_dir + "/async.db", clock));
  a->destinations_ = std::make_unique<events::StoreDestinations>(
      clock, ProcessEnv(), [] { return MakeCurlHttpClient(); });
  a->dispatcher_ = std::make_unique<events::AsyncDispatcher>(
      a->store_.get(), clock, a->destinations_.get(), std::move(log));
  return a;
}

void PlatformAsync::AddFunction(const FunctionConfig& fc,
                                std::vector<std::pair<gateway::Backend*, int>> variants) {
  Fn& fn = fns_[fc.name];
  fn.window_ms = static_cast<int64_t>(fc.async.idempotency_window_s * 1000);
  fn.variants = std::move(variants);
  fn.total_weight = 0;
  for (const auto& [b, w] : fn.variants) fn.total_weight += w;
  events::AsyncPolicy p;
  p.max_retries = fc.async.max_retries;
  p.max_age_ms = static_cast<int64_t>(fc.async.max_age_s * 1000);
  p.retry_base_ms = static_cast<int64_t>(fc.async.retry_base_s * 1000);
  p.retry_cap_ms = static_cast<int64_t>(fc.async.retry_cap_s * 1000);
  p.on_success = fc.async.on_success;
  p.on_failure = fc.async.on_failure;
  p.max_in_flight = std::max(1, fc.async.max_in_flight);
  const Fn* f = &fn;
  auto send = [this, f](ForwardRequest req, ReplyFn done) {
    SendTo(*f, std::move(req), std::move(done));
  };
  dispatcher_->AddFunction(fc.name, p, send);
  if (!fc.sqs.queue_url.empty()) {
    events::SqsSourceConfig sc;
    sc.queue_url = fc.sqs.queue_url;
    sc.batch_size = fc.sqs.batch_size;
    sc.batching_window_s = fc.sqs.batching_window_s;
    sc.visibility_timeout_s = fc.sqs.visibility_timeout_s;
    auto client = std::make_unique<events::SqsClient>(sc.queue_url, ProcessEnv(), clock_,
                                                      MakeCurlHttpClient());
    fn.sqs =
        std::make_unique<events::SqsSource>(fc.name, sc, std::move(client), send, clock_, log_);
  }
}

void PlatformAsync::SendTo(const Fn& f, ForwardRequest req, ReplyFn done) {
  // The canary weights choose the version, as for a synchronous request.
  gateway::Backend* backend = f.variants.front().first;
  if (f.total_weight > 0) {
    int64_t point;
    {
      std::lock_guard<std::mutex> lock(rng_mu_);
      point = static_cast<int64_t>(rng_() % static_cast<uint64_t>(f.total_weight));
    }
    for (const auto& [b, w] : f.variants) {
      if (point < w) {
        backend = b;
        break;
      }
      point -= w;
    }
  }
  backend->Submit(std::move(req), std::move(done));
}

void PlatformAsync::AddTrigger(const TriggerSpec& spec, std::unique_ptr<ObjectStore> bucket) {
  events::TriggerConfig tc;
  tc.function = spec.function;
  tc.shape = spec.shape == "gs"   ? events::TriggerShape::kCloudEvent
             : spec.shape == "az" ? events::TriggerShape::kAzureBlob
                                  : events::TriggerShape::kS3Event;
  tc.source_id = spec.source_id;
  tc.bucket = spec.bucket;
  tc.prefix = spec.prefix;
  tc.suffix = spec.suffix;
  tc.poll_s = spec.poll_s;
  tc.region = ResolveAwsRegion(ProcessEnv());
  auto submit = [this](const events::TriggerDelivery& d) -> StatusOr<bool> {
    events::AsyncRequest r;
    r.function = d.function;
    r.path = d.path;
    r.content_type = d.content_type;
    r.body = d.body;
    r.request_id = "trigger";
    r.retry_until_max_age = true;  // a store outage delays a delivery, never ends it
    // A trace for the delivery: its span names the object, and the instance's Runs of it hang
    // under it (traceparent, then Lambda's X-Ray header).
    std::optional<observe::Span> span;
    if (tracer_ != nullptr && tracer_->enabled()) {
      observe::Tracer::Begun b = tracer_->Begin(std::nullopt);
      if (b.ctx.sampled) {
        r.headers.emplace_back("traceparent", observe::FormatTraceparent(b.ctx));
        span.emplace();
        span->trace_id = b.ctx.trace_id;
        span->span_id = b.ctx.span_id;
        span->kind = observe::Span::Kind::kProducer;
        span->name = "trigger " + d.key.substr(0, d.key.rfind('#'));
        span->start_unix_ns = span->end_unix_ns = clock_->WallNanos();
        span->attributes = {{"modelfn.function", d.function},
                            {"modelfn.object", d.key.substr(0, d.key.rfind('#'))},
                            {"modelfn.object_version", d.key.substr(d.key.rfind('#') + 1)}};
      }
    }
    // One delivery per object version: the key and ETag, remembered for 30 days.
    constexpr int64_t kDedupMs = int64_t{30} * 86400 * 1000;
    ASSIGN_OR_RETURN(events::Submitted s, store_->Submit(r, d.key, kDedupMs));
    if (s.created) dispatcher_->Notify();
    if (s.created && span) tracer_->Record(std::move(*span));  // a duplicate starts no trace
    return s.created;
  };
  triggers_.push_back(
      std::make_unique<events::ObjectTrigger>(tc, std::move(bucket), submit, clock_, log_));
}

void PlatformAsync::Start() {
  dispatcher_->Start();
  for (auto& t : triggers_) t->Start();
  for (auto& [name, fn] : fns_) {
    if (fn.sqs) fn.sqs->Start();
  }
}

void PlatformAsync::Stop() {
  for (auto& t : triggers_) t->Stop();
  for (auto& [name, fn] : fns_) {
    if (fn.sqs) fn.sqs->Stop();
  }
  dispatcher_->Stop();
}

StatusOr<gateway::AsyncQueue::Accepted> PlatformAsync::Submit(const std::string& function,
                                                              ForwardRequest request,
                                                              const std::string& idempotency_key) {
  auto fn = fns_.find(function);
  if (fn == fns_.end()) return Status(StatusCode::kNotFound, "no function " + function);
  events::AsyncRequest r;
  r.function = function;
  r.method = std::move(request.method);
  r.path = std::move(request.path);
  r.query = std::move(request.query);
  r.content_type = std::move(request.content_type);
  r.headers = std::move(request.headers);
  r.body = std::move(request.body);
  r.request_id = std::move(request.request_id);
  ASSIGN_OR_RETURN(events::Submitted s, store_->Submit(r, idempotency_key, fn->second.window_ms));
  if (s.created) {
    dispatcher_->Notify();
  } else if (auto earlier = store_->Get(s.id);
             earlier.ok() && (earlier->request.path != r.path || earlier->request.body != r.body ||
                              earlier->request.query != r.query)) {
    // The same key for another request is a client's mistake, not a repeat.
    return Status(StatusCode::kFailedPrecondition,
                  "Idempotency-Key '" + idempotency_key + "' was used for another request (" +
                      s.id + "): use a new key for a new request",
                  "idempotency_conflict");
  }
  return Accepted{s.id, s.created};
}

StatusOr<std::string> PlatformAsync::Describe(const std::string& id) {
  ASSIGN_OR_RETURN(events::AsyncRecord r, store_->Get(id));
  return events::StatusJson(r);
}

std::string PlatformAsync::StatusOf(const std::string& function) const {
  auto counts = store_->CountByFunction();
  events::AsyncStore::Counts c;
  if (counts.ok()) {
    if (auto it = counts->find(function); it != counts->end()) c = it->second;
  }
  events::AsyncDispatcher::Counters d;
  auto all = dispatcher_->counters();
  if (auto it = all.find(function); it != all.end()) d = it->second;
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("queued").Uint(c.queued).Key("running").Uint(c.running);
  w.Key("succeeded").Uint(c.succeeded).Key("failed").Uint(c.failed);
  w.Key("sent").Uint(d.sent).Key("retried").Uint(d.retried).Key("too_old").Uint(d.too_old);
  w.Key("destination_errors").Uint(d.destination_errors);
  for (const auto& t : triggers_) {
    if (t->config().function != function) continue;
    events::ObjectTrigger::Counters c2 = t->counters();
    w.Key("trigger").BeginObject().Key("source").String(t->config().source_id + "/" +
                                                        t->config().prefix);
    w.Key("scans").Uint(c2.scans).Key("scan_errors").Uint(c2.scan_errors);
    w.Key("delivered").Uint(c2.delivered).Key("duplicates").Uint(c2.duplicates).EndObject();
  }
  if (auto fn = fns_.find(function); fn != fns_.end() && fn->second.sqs) {
    events::SqsSource::Counters q = fn->second.sqs->counters();
    w.Key("sqs").BeginObject().Key("received").Uint(q.received).Key("batches").Uint(q.batches);
    w.Key("deleted").Uint(q.deleted).Key("returned").Uint(q.returned);
    w.Key("receive_errors").Uint(q.receive_errors).EndObject();
  }
  w.EndObject();
  return out;
}

std::string PlatformAsync::MetricsText() const {
  std::string out =
      "# HELP modelfn_async_invocations Asynchronous invocations in the queue, by state.\n"
      "# TYPE modelfn_async_invocations gauge\n";
  auto counts = store_->CountByFunction();
  for (const auto& [name, fn] : fns_) {
    events::AsyncStore::Counts c;
    if (counts.ok()) {
      if (auto it = counts->find(name); it != counts->end()) c = it->second;
    }
    for (const auto& [state, n] : {std::pair<const char*, uint64_t>{"queued", c.queued},
                                   {"running", c.running},
                                   {"succeeded", c.succeeded},
                                   {"failed", c.failed}}) {
      out += "modelfn_async_invocations{function=\"" + name + "\",state=\"" + state + "\"} " +
             std::to_string(n) + "\n";
    }
  }
  out +=
      "# HELP modelfn_async_retries_total Asynchronous invocations sent again after a failure.\n"
      "# TYPE modelfn_async_retries_total counter\n";
  for (const auto& [name, d] : dispatcher_->counters()) {
    out += "modelfn_async_retries_total{function=\"" + name + "\"} " + std::to_string(d.retried) +
           "\n";
  }
  return out;
}

}  // namespace modelfn
