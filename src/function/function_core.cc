#include "function/function_core.h"

#include <sys/random.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>

#include "function/batch.h"
#include "function/function_core_outcomes.h"
#include "function/image_inputs.h"
#include "http/media_type.h"
#include "http/problem.h"
#include "manifest/manifest.h"
#include "tensor/codec.h"

namespace modelfn {
namespace {

// Indexed by FunctionCore::Route.
constexpr const char* kRouteLabels[] = {"/v1/infer",  "/v1/batch",  "/v2/models/{model}/infer",
                                        "/v1/health", "/v1/models", "/v2",
                                        "/metrics",   "other"};

// No Content-Type (curl -d without -H, many scripts) is read as JSON too.
bool IsJsonMediaType(const std::string* ct) {
  return ct == nullptr || modelfn::IsJsonMediaType(std::string_view(*ct));
}

Problem UnsupportedType(const std::string* ct, const char* want) {
  return MakeProblem("unsupported_media_type",
                     "Content-Type '" + (ct ? *ct : std::string()) + "' is not supported; send " +
                         want + " (with curl: -H 'Content-Type: application/json')");
}

}  // namespace

Outcome ProblemOutcome(const Problem& p) {
  Outcome o;
  o.status = p.status;
  o.content_type = std::string(kProblemContentType);
  o.body = p.ToJson();
  return o;
}

Outcome V2ErrorOutcome(const Problem& p) {
  Outcome o;
  o.status = p.status;
  JsonWriter w(&o.body);
  w.BeginObject().Key("error").String(p.detail).Key("code").String(p.code).EndObject();
  return o;
}

Outcome MethodNotAllowed(std::string_view allow, bool v2) {
  Problem p = MakeProblem("method_not_allowed", "use " + std::string(allow));
  Outcome o = v2 ? V2ErrorOutcome(p) : ProblemOutcome(p);
  o.headers.emplace_back("Allow", std::string(allow));
  return o;
}

FunctionCore::FunctionCore(std::unique_ptr<Engine> engine, FunctionIdentity id,
                           InferenceLimits limits, const Clock* clock, const EventLog* log)
    : engine_(std::move(engine)),
      id_(std::move(id)),
      limits_(limits),
      clock_(clock),
      log_(log),
      stats_(std::vector<std::string>(std::begin(kRouteLabels), std::end(kRouteLabels))),
      start_nanos_(clock->MonotonicNanos()) {
  uint32_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r) r = static_cast<uint32_t>(start_nanos_);
  char buf[16];
  snprintf(buf, sizeof buf, "%08x", r);
  id_prefix_ = buf;
}

void FunctionCore::SetReady(const InitTimings& timings) {
  timings_ = timings;
  ready_wall_ns_ = clock_->WallNanos();
  ready_.store(true);
}

namespace {
thread_local const observe::TraceContext* ambient_trace = nullptr;
}  // namespace

AmbientTrace::AmbientTrace(const observe::TraceContext* trace) : prev_(ambient_trace) {
  ambient_trace = trace;
}
AmbientTrace::~AmbientTrace() { ambient_trace = prev_; }
const observe::TraceContext* AmbientTrace::Current() { return ambient_trace; }

namespace {
// The Run of the request this thread is handling (Handle sets it; RunOrDefer fills it).
struct RunTimes {
  int64_t start = 0, end = 0;
  int64_t rows = 0;
};
thread_local RunTimes* current_run = nullptr;
}  // namespace

std::string FunctionCore::NextRequestId() {
  char buf[40];
  snprintf(buf, sizeof buf, "%s-%llx", id_prefix_.c_str(),
           static_cast<unsigned long long>(next_id_.fetch_add(1, std::memory_order_relaxed)));
  return buf;
}

FunctionCore::RequestFacts FunctionCore::Facts(const Invocation& inv, int64_t t0) {
  RequestFacts f;
  f.t0 = t0;
  f.request_id = inv.request_id && !inv.request_id->empty() && inv.request_id->size() <= 200
                     ? *inv.request_id
                     : NextRequestId();
  f.method = std::string(inv.method);
  f.path = std::string(inv.path);
  f.input_bytes = inv.body.size();
  if (inv.trace != nullptr) {
    f.trace = *inv.trace;
  } else if (const observe::TraceContext* ambient = AmbientTrace::Current()) {
    f.trace = *ambient;
  }
  if (tracer_ != nullptr) f.wall_t0 = clock_->WallNanos() - (clock_->MonotonicNanos() - t0);
  return f;
}

void FunctionCore::RecordSpans(const observe::Tracer::Begun& b, const RequestFacts& facts,
                               Route route, int status, bool cold, const BatchedResult* batch,
                               int64_t end_mono) {
  if (!b.ctx.sampled || !tracer_->enabled()) return;
  // Monotonic times mapped onto the wall clock of the request's start.
  auto wall = [&](int64_t mono) { return facts.wall_t0 + (mono - facts.t0); };
  const int64_t end = wall(end_mono);
  observe::Span server;
  server.trace_id = b.ctx.trace_id;
  server.span_id = b.ctx.span_id;
  server.parent_span_id = b.parent;
  server.kind = observe::Span::Kind::kServer;
  server.name = facts.method + " " + kRouteLabels[route];
  server.start_unix_ns = facts.wall_t0;
  server.end_unix_ns = end;
  server.attributes = {{"http.request.method", facts.method},
                       {"url.path", facts.path},
                       {"http.response.status_code", int64_t{status}},
                       {"modelfn.request_id", facts.request_id},
                       {"modelfn.model", id_.model_name},
                       {"modelfn.version", id_.model_version},
                       {"faas.coldstart", cold}};
  server.error = status >= 500;
  auto child = [&](const char* name, int64_t start, int64_t stop) {
    observe::Span s;
    s.trace_id = b.ctx.trace_id;
    s.span_id = tracer_->NewSpanId();
    s.parent_span_id = server.span_id;
    s.name = name;
    s.start_unix_ns = start;
    s.end_unix_ns = std::max(start, stop);
    return s;
  };
  if (batch != nullptr) {
    const int64_t queued = facts.t0 + static_cast<int64_t>(batch->queue_ms * 1e6);
    observe::Span q = child("batch queue", facts.wall_t0, wall(queued));
    observe::Span run = child("run", wall(queued), end);
    run.attributes = {{"modelfn.batch_rows", int64_t{batch->batch_rows}},
                      {"modelfn.batch_requests", int64_t{batch->batch_requests}}};
    tracer_->Record(std::move(q));
    tracer_->Record(std::move(run));
  } else if (facts.run_start != 0) {
    tracer_->Record(child("decode", facts.wall_t0, wall(facts.run_start)));
    observe::Span run = child("run", wall(facts.run_start), wall(facts.run_end));
    run.attributes = {{"modelfn.batch_rows", facts.rows}};
    tracer_->Record(std::move(run));
    tracer_->Record(child("encode", wall(facts.run_end), end));
  }
  if (cold && ready_wall_ns_ != 0 && timings_.runtime_init_ms > 0) {
    // The init this cold request waited for (Lambda puts it in the first invocation's trace):
    // its phases one after another, ending when the function became ready.
    const int64_t init_end = ready_wall_ns_;
    const int64_t init_start = init_end - static_cast<int64_t>(timings_.runtime_init_ms * 1e6);
    observe::Span init = child("init", init_start, init_end);
    init.attributes = {{"faas.coldstart", true}};
    int64_t at = init_start;
    for (auto [name, ms] :
         {std::pair{"model fetch", timings_.model_fetch_ms},
          std::pair{"model verify", timings_.model_verify_ms},
          std::pair{"session", timings_.model_load_ms}, std::pair{"warmup", timings_.warmup_ms}}) {
      if (ms <= 0) continue;
      observe::Span p = child(name, at, at + static_cast<int64_t>(ms * 1e6));
      p.parent_span_id = init.span_id;
      if (std::string_view(name) == "model fetch" && !timings_.model_cache.empty())
        p.attributes = {{"modelfn.cache", timings_.model_cache}};
      at = p.end_unix_ns;
      tracer_->Record(std::move(p));
    }
    tracer_->Record(std::move(init));
  }
  tracer_->Record(std::move(server));
}

void FunctionCore::Finish(const RequestFacts& facts, Route route, const std::string& error_code,
                          Outcome* out, const BatchedResult* batch) {
  // Probes (health, readiness, metrics) are not requests: only the first inference is cold.
  bool inference = route == kInfer || route == kBatch || route == kV2Infer;
  bool cold = inference && cold_.load(std::memory_order_relaxed) && cold_.exchange(false);
  out->headers.emplace_back("X-Request-Id", facts.request_id);
  const int64_t end_mono = clock_->MonotonicNanos();
  int64_t micros = (end_mono - facts.t0) / 1000;
  // The trace the request belongs to: the one it continues or starts here (with a tracer), else
  // the one it was received with; its id goes in the request's log line.
  std::optional<observe::Tracer::Begun> begun;
  if (tracer_ != nullptr && inference) begun = tracer_->Begin(facts.trace);
  if (begun) RecordSpans(*begun, facts, route, out->status, cold, batch, end_mono);
  std::string trace_id = begun         ? begun->ctx.TraceIdHex()
                         : facts.trace ? facts.trace->TraceIdHex()
                                       : std::string();
  if (emf_ && inference) WriteEmf(facts, out->status, error_code, cold, batch, micros);
  stats_.Record(route, out->status, micros);
  if (log_->enabled()) {
    EventLog::Line line = log_->Begin("request", out->status >= 500 ? "error" : "info");
    JsonWriter& w = line.w();
    w.Key("request_id").String(facts.request_id);
    if (!trace_id.empty()) w.Key("trace_id").String(trace_id);
    w.Key("route").String(kRouteLabels[route]);
    w.Key("method").String(facts.method);
    w.Key("path").String(facts.path);
    w.Key("status").Int(out->status);
    if (!error_code.empty()) w.Key("code").String(error_code);
    w.Key("handler_ms").Double(static_cast<double>(micros) / 1000.0);
    if (batch != nullptr) {
      w.Key("batch_rows").Int(batch->batch_rows);
      w.Key("batch_requests").Int(batch->batch_requests);
      w.Key("queue_ms").Double(batch->queue_ms);
    }
    w.Key("input_bytes").Uint(facts.input_bytes);
    w.Key("output_bytes").Uint(out->body.size());
    w.Key("cold_start").Bool(cold);
    log_->Emit(line);
  }
}

void FunctionCore::EnableEmf(std::string metric_namespace, std::string function_name) {
  emf_ = true;
  emf_namespace_ = std::move(metric_namespace);
  emf_function_ = std::move(function_name);
}

void FunctionCore::WriteEmf(const RequestFacts& facts, int status, const std::string& error_code,
                            bool cold, const BatchedResult* batch, int64_t micros) {
  // One CloudWatch Embedded Metric Format document (its metrics extracted by CloudWatch Logs
  // from the log line): by function; errors also by function and code.
  std::vector<std::pair<const char*, const char*>> metrics = {{"Invocations", "Count"},
                                                              {"ColdStart", "Count"},
                                                              {"Duration", "Milliseconds"},
                                                              {"Errors", "Count"},
                                                              {"ClientErrors", "Count"}};
  const bool ran = batch != nullptr || facts.run_start != 0;
  if (ran) {
    metrics.push_back({"RunDuration", "Milliseconds"});
    metrics.push_back({"BatchSize", "Count"});
  }
  if (cold) {
    metrics.push_back({"InitDuration", "Milliseconds"});
    metrics.push_back({"ModelFetchDuration", "Milliseconds"});
    metrics.push_back({"SessionDuration", "Milliseconds"});
  }
  EventLog::Line line = log_->Begin("metrics");
  JsonWriter& w = line.w();
  w.Key("_aws").BeginObject().Key("Timestamp").Int(clock_->WallNanos() / 1'000'000);
  w.Key("CloudWatchMetrics").BeginArray();
  w.BeginObject().Key("Namespace").String(emf_namespace_);
  w.Key("Dimensions").BeginArray().BeginArray().String("FunctionName").EndArray().EndArray();
  w.Key("Metrics").BeginArray();
  for (const auto& [name, unit] : metrics)
    w.BeginObject().Key("Name").String(name).Key("Unit").String(unit).EndObject();
  w.EndArray().EndObject();
  if (!error_code.empty()) {
    w.BeginObject().Key("Namespace").String(emf_namespace_);
    w.Key("Dimensions").BeginArray().BeginArray().String("FunctionName").String("ErrorCode");
    w.EndArray().EndArray();
    w.Key("Metrics").BeginArray().BeginObject().Key("Name").String("ErrorsByCode");
    w.Key("Unit").String("Count").EndObject().EndArray().EndObject();
  }
  w.EndArray().EndObject();
  w.Key("FunctionName").String(emf_function_);
  if (!error_code.empty()) w.Key("ErrorCode").String(error_code).Key("ErrorsByCode").Int(1);
  w.Key("request_id").String(facts.request_id);
  w.Key("Invocations").Int(1).Key("ColdStart").Int(cold ? 1 : 0);
  w.Key("Duration").Double(static_cast<double>(micros) / 1000.0);
  w.Key("Errors").Int(status >= 500 ? 1 : 0);
  w.Key("ClientErrors").Int(status >= 400 && status < 500 ? 1 : 0);
  if (batch != nullptr) {
    w.Key("RunDuration")
        .Double(std::max(0.0, static_cast<double>(micros) / 1000.0 - batch->queue_ms));
    w.Key("BatchSize").Int(batch->batch_rows);
  } else if (ran) {
    w.Key("RunDuration").Double(static_cast<double>(facts.run_end - facts.run_start) / 1e6);
    w.Key("BatchSize").Int(facts.rows);
  }
  if (cold) {
    w.Key("InitDuration").Double(timings_.runtime_init_ms);
    w.Key("ModelFetchDuration").Double(timings_.model_fetch_ms);
    w.Key("SessionDuration").Double(timings_.model_load_ms);
  }
  log_->Emit(line);
}

Outcome FunctionCore::Handle(const Invocation& inv) {
  int64_t t0 = clock_->MonotonicNanos();
  Route route = kOther;
  std::string error_code;
  RunTimes run;
  current_run = &run;
  RequestFacts facts = Facts(inv, t0);
  const std::string trace_hex = facts.trace ? facts.trace->TraceIdHex() : std::string();
  Outcome out;
  {
    RequestLogScope scope(&facts.request_id, trace_hex.empty() ? nullptr : &trace_hex);
    out = Dispatch(inv, &route, &error_code, nullptr);
  }
  current_run = nullptr;
  facts.run_start = run.start;
  facts.run_end = run.end;
  facts.rows = run.rows;
  Finish(facts, route, error_code, &out, nullptr);
  return out;
}

void FunctionCore::HandleAsync(const Invocation& inv, std::function<void(Outcome)> done,
                               std::shared_ptr<const std::atomic<bool>> client_gone) {
  if (batcher_ == nullptr) {
    done(Handle(inv));
    return;
  }
  int64_t t0 = clock_->MonotonicNanos();
  Route route = kOther;
  std::string error_code;
  auto deferred = std::make_shared<Deferred>();
  Outcome out = Dispatch(inv, &route, &error_code, deferred.get());
  RequestFacts facts = Facts(inv, t0);
  if (out.status != 0) {
    Finish(facts, route, error_code, &out, nullptr);
    done(std::move(out));
    return;
  }
  const PreparedInputs* prepared = &deferred->prepared;
  RunLimits limits = deferred->limits;
  batcher_->Submit(
      prepared, limits,
      [this, deferred = std::move(deferred), facts = std::move(facts), route,
       done = std::move(done)](BatchedResult r) {
        std::string code;
        Outcome o = deferred->finish(std::move(r.outputs), deferred->prepared, &code);
        Finish(facts, route, code, &o, &r);
        done(std::move(o));
      },
      std::move(client_gone));
}

Status FunctionCore::EnableBatching(const BatchingOptions& options) {
  if (!options.enabled()) return Status::Ok();
  batcher_ = std::make_unique<Batcher>(engine_.get(), options, clock_);
  return batcher_->Calibrate();
}

Outcome FunctionCore::RunOrDefer(
    PreparedInputs prepared, const RunLimits& limits,
    std::function<Outcome(StatusOr<std::vector<Tensor>>, const PreparedInputs&, std::string*)>
        finish,
    std::string* error_code, Deferred* deferred) {
  if (deferred != nullptr && batcher_ != nullptr) {
    deferred->prepared = std::move(prepared);
    deferred->limits = limits;
    deferred->finish = std::move(finish);
    Outcome pending;
    pending.status = 0;
    return pending;
  }
  const bool timed = current_run != nullptr && (tracer_ != nullptr || emf_);
  if (timed) {
    current_run->start = clock_->MonotonicNanos();
    if (!prepared.inputs.empty() && !prepared.inputs[0].shape.empty())
      current_run->rows = prepared.inputs[0].shape[0];
  }
  auto result = RunPrepared(*engine_, prepared, limits);
  if (timed) current_run->end = clock_->MonotonicNanos();
  return finish(std::move(result), prepared, error_code);
}

Outcome FunctionCore::Dispatch(const Invocation& inv, Route* route, std::string* error_code,
                               Deferred* deferred) {
  RunLimits limits;
  if (inv.deadline_wall_ms > 0) {
    // Stop the model in time to still send the answer: the kernel running at the deadline must
    // finish first, so keep 5 % of the time left, at least 50 ms and at most 500 ms.
    // A deadline further than a day away (Lambda's limit is 15 minutes) is a day away: the
    // nanosecond arithmetic below must not overflow whatever the Runtime API sends.
    constexpr int64_t kDayMs = 86'400'000;
    int64_t left_ms = std::min(inv.deadline_wall_ms, clock_->WallNanos() / 1'000'000 + kDayMs) -
                      clock_->WallNanos() / 1'000'000;
    // The time left comes from the injected clock; the engine's deadline is on RealClock's
    // monotonic clock (RunLimits), whatever clock this core was given.
    int64_t margin_ms = std::clamp<int64_t>(left_ms / 20, 50, 500);
    limits.deadline_mono_ns =
        RealClock::Get().MonotonicNanos() + std::max<int64_t>(left_ms - margin_ms, 1) * 1'000'000;
  }
  std::string_view path = inv.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto fail = [&](Outcome o, std::string_view code) {
    *error_code = std::string(code);
    return o;
  };
  bool get = inv.method == "GET" || inv.method == "HEAD";
  if (path == "/v1/infer") {
    *route = kInfer;
    if (inv.method != "POST") return fail(MethodNotAllowed("POST", false), "method_not_allowed");
    return Infer(inv, limits, error_code, deferred);
  }
  if (path == "/v1/batch") {
    *route = kBatch;
    if (inv.method != "POST") return fail(MethodNotAllowed("POST", false), "method_not_allowed");
    return Batch(inv, limits, error_code);
  }
  if (path == "/v1/health") {
    *route = kHealth;
    if (!get) return fail(MethodNotAllowed("GET", false), "method_not_allowed");
    return Health();
  }
  if (path == "/v1/models") {
    *route = kModels;
    if (!get) return fail(MethodNotAllowed("GET", false), "method_not_allowed");
    return Models();
  }
  if (path == "/metrics") {
    *route = kMetrics;
    if (!get) return fail(MethodNotAllowed("GET", false), "method_not_allowed");
    return Metrics();
  }
  // /v1/models/{name}/infer | /batch: the gateway's per-function routes, for a function behind an
  // API that forwards them unchanged (API Gateway on AWS).
  constexpr std::string_view kPerFunction = "/v1/models/";
  if (path.rfind(kPerFunction, 0) == 0) {
    std::string_view rest = path.substr(kPerFunction.size());
    size_t slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if ((action == "infer" || action == "batch") && AnsweredName(name)) {
      const bool infer = action == "infer";
      *route = infer ? kInfer : kBatch;
      if (inv.method != "POST") return fail(MethodNotAllowed("POST", false), "method_not_allowed");
      return infer ? Infer(inv, limits, error_code, deferred) : Batch(inv, limits, error_code);
    }
  }
  if (path == "/v2" || path.rfind("/v2/", 0) == 0)
    return V2(inv, limits, route, error_code, deferred);
  return fail(ProblemOutcome(MakeProblem("not_found", "no route for " + std::string(inv.path))),
              "not_found");
}

// The checks every seed-API POST shares: JSON content type, model ready, a non-empty body that
// parses. nullopt with *problem set otherwise.
std::optional<Json> FunctionCore::JsonRequestBody(const Invocation& inv, Problem* problem) const {
  if (!IsJsonMediaType(inv.content_type)) {
    *problem = UnsupportedType(inv.content_type, "application/json");
  } else if (!ready()) {
    *problem = MakeProblem("model_not_ready", "the model is still loading");
  } else if (inv.body.empty()) {
    *problem = MakeProblem("invalid_request", "the request body is empty");
  } else {
    auto body = Json::Parse(inv.body);
    if (body.ok()) return std::move(body).value();
    *problem = MakeProblem("invalid_json", body.status().message());
  }
  return std::nullopt;
}

Outcome FunctionCore::Infer(const Invocation& inv, const RunLimits& limits, std::string* error_code,
                            Deferred* deferred) {
  auto fail = [&](const Problem& p) {
    *error_code = p.code;
    return ProblemOutcome(p);
  };
  int64_t budget = limits_.max_elements;
  StatusOr<PreparedInputs> prepared = PreparedInputs();
  if (IsImageMediaType(inv.content_type)) {  // the body is one image
    if (!ready()) return fail(MakeProblem("model_not_ready", "the model is still loading"));
    prepared = PrepareRawImageRequest(inv.body, engine_->pipeline(), &budget);
  } else if (engine_->pipeline() != nullptr && engine_->pipeline()->has_images() &&
             !IsJsonMediaType(inv.content_type)) {
    return fail(UnsupportedType(inv.content_type,
                                "application/json, or one image as image/jpeg, image/png or "
                                "image/webp"));
  } else {
    Problem problem;
    std::optional<Json> body = JsonRequestBody(inv, &problem);
    if (!body) return fail(problem);
    if (const Json* m = body->is_object() ? body->Find("model") : nullptr) {
      if (!m->is_string() || m->AsString() != id_.model_name) {
        return fail(
            MakeProblem("not_found", "this function serves model '" + id_.model_name + "'"));
      }
    }
    prepared = PrepareSeedRequest(*body, engine_->schema(), &budget, engine_->pipeline());
  }
  if (!prepared.ok()) return fail(ProblemFromStatus(prepared.status()));
  if (prepared->text) {
    Status s = EncodeTextInputs(*engine_->pipeline(), &*prepared, &budget);
    if (!s.ok()) return fail(ProblemFromStatus(s));
  }
  // The answer, from the outputs: now, or later on a batcher's runner (it holds no reference to
  // the request).
  auto finish = [this](StatusOr<std::vector<Tensor>> result, const PreparedInputs& p,
                       std::string* code) {
    auto fail_with = [&](const Problem& problem) {
      *code = problem.code;
      return ProblemOutcome(problem);
    };
    if (!result.ok()) return fail_with(ProblemFromStatus(result.status()));
    auto reported = ReportOutputs(engine_->pipeline(), std::move(result).value(), p.inputs);
    if (!reported.ok()) return fail_with(ProblemFromStatus(reported.status()));
    DropSingleBatchDim(p, &*reported);
    Outcome o;
    o.body.reserve(256);
    JsonWriter w(&o.body);
    w.BeginObject();
    w.Key("model").String(id_.model_name);
    w.Key("version").String(id_.model_version);
    WriteSeedOutputs(*reported, &w);
    w.EndObject();
    return o;
  };
  return RunOrDefer(std::move(prepared).value(), limits, std::move(finish), error_code, deferred);
}

Outcome FunctionCore::Batch(const Invocation& inv, const RunLimits& limits,
                            std::string* error_code) {
  auto fail = [&](const Problem& p) {
    *error_code = p.code;
    return ProblemOutcome(p);
  };
  Problem problem;
  std::optional<Json> body = JsonRequestBody(inv, &problem);
  if (!body) return fail(problem);
  const Json* items = body->is_object() ? body->Find("items") : nullptr;
  if (items == nullptr || !items->is_array()) {
    return fail(MakeProblem("invalid_request", "the request body needs an 'items' array"));
  }
  if (items->AsArray().size() > limits_.max_batch_items) {
    return fail(
        MakeProblem("too_many_elements",
                    "a batch holds at most " + std::to_string(limits_.max_batch_items) + " items"));
  }
  Outcome o;
  JsonWriter w(&o.body);
  w.BeginObject();
  w.Key("model").String(id_.model_name);
  w.Key("version").String(id_.model_version);
  BatchStats s = RunBatch(items->AsArray(), *engine_, limits_, limits, id_.model_name, &w);
  w.EndObject();
  o.headers.emplace_back("X-Batch-Items", std::to_string(s.items));
  o.headers.emplace_back("X-Batch-Failed", std::to_string(s.failed));
  o.headers.emplace_back("X-Batch-Engine-Calls", std::to_string(s.engine_calls));
  return o;
}

Outcome FunctionCore::V2Infer(const Invocation& inv, const RunLimits& limits,
                              std::string* error_code, Deferred* deferred) {
  auto fail = [&](const Problem& p) {
    *error_code = p.code;
    return V2ErrorOutcome(p);
  };
  if (!ready()) return fail(MakeProblem("model_not_ready", "the model is still loading"));
  std::string_view header = inv.body;
  std::string_view binary;
  if (inv.inference_header_length != nullptr) {
    const std::string& h = *inv.inference_header_length;
    size_t n = 0;
    auto r = std::from_chars(h.data(), h.data() + h.size(), n);
    if (h.empty() || r.ec != std::errc() || r.ptr != h.data() + h.size() || n > inv.body.size()) {
      return fail(MakeProblem("invalid_request", "Inference-Header-Content-Length '" + h +
                                                     "' is not a length within the body"));
    }
    header = inv.body.substr(0, n);
    binary = inv.body.substr(n);
    if (inv.content_type && !IsJsonMediaType(inv.content_type) &&
        LowerMediaType(*inv.content_type) != "application/octet-stream") {
      return fail(
          UnsupportedType(inv.content_type, "application/octet-stream or application/json"));
    }
  } else if (!IsJsonMediaType(inv.content_type)) {
    return fail(
        UnsupportedType(inv.content_type,
                        "application/json (or binary data with Inference-Header-Content-Length)"));
  }
  if (header.empty()) return fail(MakeProblem("invalid_request", "the request body is empty"));
  auto doc = Json::Parse(header);
  if (!doc.ok()) return fail(MakeProblem("invalid_json", doc.status().message()));
  auto prepared =
      PrepareV2Request(*doc, binary, engine_->schema(), limits_.max_elements, engine_->pipeline());
  if (!prepared.ok()) return fail(ProblemFromStatus(prepared.status()));
  if (prepared->text) {
    int64_t budget = limits_.max_elements;
    Status s = EncodeTextInputs(*engine_->pipeline(), &*prepared, &budget);
    if (!s.ok()) return fail(ProblemFromStatus(s));
  }
  // The answer, from the outputs: now, or later on a batcher's runner. It keeps the request's
  // "id" (the parsed header) for the answer.
  auto id_doc = std::make_shared<Json>(std::move(doc).value());
  auto finish = [this, id_doc](StatusOr<std::vector<Tensor>> result, const PreparedInputs& p,
                               std::string* code) {
    auto fail_with = [&](const Problem& problem) {
      *code = problem.code;
      return V2ErrorOutcome(problem);
    };
    if (!result.ok()) return fail_with(ProblemFromStatus(result.status()));
    auto reported = ReportOutputs(engine_->pipeline(), std::move(result).value(), p.inputs);
    if (!reported.ok()) return fail_with(ProblemFromStatus(reported.status()));
    std::vector<Tensor> outputs;
    outputs.reserve(reported->size());
    for (ReportedOutput& r : *reported) outputs.push_back(ReportedToV2Tensor(std::move(r)));
    Outcome o;
    auto header_len = WriteV2Response(id_.model_name, id_.model_version, id_doc->Find("id"),
                                      outputs, p.binary_outputs, &o.body);
    if (header_len) {
      o.content_type = "application/octet-stream";
      o.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*header_len));
    }
    return o;
  };
  return RunOrDefer(std::move(prepared).value(), limits, std::move(finish), error_code, deferred);
}

}  // namespace modelfn
