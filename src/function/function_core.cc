#include "function/function_core.h"

#include <sys/random.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>

#include "function/batch.h"
#include "function/image_inputs.h"
#include "http/problem.h"
#include "manifest/manifest.h"
#include "tensor/codec.h"

namespace modelfn {
namespace {

constexpr std::string_view kServerVersion = "0.1.0";
// Indexed by FunctionCore::Route.
constexpr const char* kRouteLabels[] = {"/v1/infer",  "/v1/batch",  "/v2/models/{model}/infer",
                                        "/v1/health", "/v1/models", "/v2",
                                        "/metrics",   "other"};

Outcome ProblemOutcome(const Problem& p) {
  Outcome o;
  o.status = p.status;
  o.content_type = std::string(kProblemContentType);
  o.body = p.ToJson();
  return o;
}

// Open Inference Protocol errors: {"error": "..."} as the protocol says, plus our stable code.
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

std::string LowerMediaType(const std::string& ct) {
  std::string out;
  for (char c : ct) {
    if (c == ';') break;
    if (c == ' ' || c == '\t') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

bool IsJsonMediaType(const std::string* ct) {
  if (ct == nullptr) return true;  // curl -d without -H, many scripts: accept
  std::string m = LowerMediaType(*ct);
  return m.empty() || m == "application/json" || m == "text/json" ||
         (m.size() > 5 && m.compare(m.size() - 5, 5, "+json") == 0);
}

Problem UnsupportedType(const std::string* ct, const char* want) {
  return MakeProblem("unsupported_media_type",
                     "Content-Type '" + (ct ? *ct : std::string()) + "' is not supported; send " +
                         want + " (with curl: -H 'Content-Type: application/json')");
}

// Outputs as the pipeline (if any) answers them: see Pipeline::ReportedSpec.
std::vector<TensorSpec> AnsweredOutputs(const Engine& engine) {
  std::vector<TensorSpec> outs = engine.schema().outputs;
  if (const Pipeline* p = engine.pipeline()) {
    for (TensorSpec& o : outs) o = p->ReportedSpec(o);
  }
  return outs;
}

// How a request may feed schema input `i` besides a tensor of its own datatype: "image" (encoded
// images), "text" (texts through the tokenizer), or null.
const char* InputSource(const Pipeline* pipeline, size_t i) {
  if (pipeline == nullptr) return nullptr;
  if (pipeline->ImageInput(i) != nullptr) return "image";
  if (pipeline->IsTextInput(i)) return "text";
  return nullptr;
}

enum class SpecStyle {
  kV1Inputs,   // /v1/models: "source" ("image" with "size" [h, w]) on pipeline-fed inputs
  kV1Outputs,  // /v1/models: "report" on reported outputs
  kV2Inputs,   // V2 metadata: "parameters": {"source": ...} on pipeline-fed inputs
  kPlain,
};

// Tensor metadata; symbolic dims (dim_params) by name when `symbolic`, else -1.
void WriteSpecs(JsonWriter& w, const std::vector<TensorSpec>& specs, bool symbolic,
                const Pipeline* pipeline = nullptr, SpecStyle style = SpecStyle::kPlain) {
  w.BeginArray();
  for (size_t n = 0; n < specs.size(); ++n) {
    const TensorSpec& s = specs[n];
    w.BeginObject().Key("name").String(s.name).Key("datatype").String(DTypeName(s.dtype));
    if (style == SpecStyle::kV1Outputs) {
      if (const char* report = pipeline ? pipeline->ReportName(s.name) : nullptr) {
        w.Key("report").String(report);
      }
    } else if (const char* source =
                   style == SpecStyle::kPlain ? nullptr : InputSource(pipeline, n)) {
      if (style == SpecStyle::kV2Inputs) w.Key("parameters").BeginObject();
      w.Key("source").String(source);
      if (const ImageSpec* image = pipeline->ImageInput(n)) {
        w.Key("size").BeginArray().Int(image->height).Int(image->width).EndArray();
      }
      if (style == SpecStyle::kV2Inputs) w.EndObject();
    }
    w.Key("shape").BeginArray();
    for (size_t i = 0; i < s.shape.size(); ++i) {
      if (symbolic && s.shape[i] < 0 && i < s.dim_params.size() && !s.dim_params[i].empty()) {
        w.String(s.dim_params[i]);
      } else {
        w.Int(s.shape[i]);
      }
    }
    w.EndArray().EndObject();
  }
  w.EndArray();
}

}  // namespace

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
  ready_.store(true);
}

std::string FunctionCore::NextRequestId() {
  char buf[40];
  snprintf(buf, sizeof buf, "%s-%llx", id_prefix_.c_str(),
           static_cast<unsigned long long>(next_id_.fetch_add(1, std::memory_order_relaxed)));
  return buf;
}

Outcome FunctionCore::Handle(const Invocation& inv) {
  int64_t t0 = clock_->MonotonicNanos();
  Route route = kOther;
  std::string error_code;
  Outcome out = Dispatch(inv, &route, &error_code);
  // Probes (health, readiness, metrics) are not requests: only the first inference is cold.
  bool inference = route == kInfer || route == kBatch || route == kV2Infer;
  bool cold = inference && cold_.load(std::memory_order_relaxed) && cold_.exchange(false);
  std::string request_id =
      inv.request_id && !inv.request_id->empty() && inv.request_id->size() <= 200 ? *inv.request_id
                                                                                  : NextRequestId();
  out.headers.emplace_back("X-Request-Id", request_id);
  int64_t micros = (clock_->MonotonicNanos() - t0) / 1000;
  stats_.Record(route, out.status, micros);
  if (log_->enabled()) {
    EventLog::Line line = log_->Begin("request", out.status >= 500 ? "error" : "info");
    JsonWriter& w = line.w();
    w.Key("request_id").String(request_id);
    w.Key("route").String(kRouteLabels[route]);
    w.Key("method").String(inv.method);
    w.Key("path").String(inv.path);
    w.Key("status").Int(out.status);
    if (!error_code.empty()) w.Key("code").String(error_code);
    w.Key("handler_ms").Double(static_cast<double>(micros) / 1000.0);
    w.Key("input_bytes").Uint(inv.body.size());
    w.Key("output_bytes").Uint(out.body.size());
    w.Key("cold_start").Bool(cold);
    log_->Emit(line);
  }
  return out;
}

Outcome FunctionCore::Dispatch(const Invocation& inv, Route* route, std::string* error_code) {
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
    return Infer(inv, limits, error_code);
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
      return infer ? Infer(inv, limits, error_code) : Batch(inv, limits, error_code);
    }
  }
  if (path == "/v2" || path.rfind("/v2/", 0) == 0) return V2(inv, limits, route, error_code);
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

Outcome FunctionCore::Infer(const Invocation& inv, const RunLimits& limits,
                            std::string* error_code) {
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
  auto result = RunPrepared(*engine_, *prepared, limits);
  if (!result.ok()) return fail(ProblemFromStatus(result.status()));
  auto reported = ReportOutputs(engine_->pipeline(), std::move(result).value(), prepared->inputs);
  if (!reported.ok()) return fail(ProblemFromStatus(reported.status()));
  DropSingleBatchDim(*prepared, &*reported);
  Outcome o;
  o.body.reserve(256);
  JsonWriter w(&o.body);
  w.BeginObject();
  w.Key("model").String(id_.model_name);
  w.Key("version").String(id_.model_version);
  WriteSeedOutputs(*reported, &w);
  w.EndObject();
  return o;
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

Outcome FunctionCore::V2(const Invocation& inv, const RunLimits& limits, Route* route,
                         std::string* error_code) {
  *route = kV2Meta;
  auto fail = [&](const Problem& p) {
    *error_code = p.code;
    return V2ErrorOutcome(p);
  };
  std::string_view path = inv.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::vector<std::string_view> seg;
  for (size_t pos = 1; pos <= path.size();) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    seg.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  bool get = inv.method == "GET" || inv.method == "HEAD";
  Outcome o;
  JsonWriter w(&o.body);
  if (seg.size() == 1) {  // /v2
    if (!get) return fail(MakeProblem("method_not_allowed", "use GET"));
    w.BeginObject().Key("name").String("modelfn").Key("version").String(kServerVersion);
    w.Key("extensions").BeginArray().String("binary_tensor_data").EndArray().EndObject();
    return o;
  }
  if (seg.size() == 3 && seg[1] == "health" && (seg[2] == "live" || seg[2] == "ready")) {
    if (!get) return fail(MakeProblem("method_not_allowed", "use GET"));
    bool ok = seg[2] == "live" || ready();
    o.status = ok ? 200 : 503;
    w.BeginObject().Key(seg[2] == "live" ? "live" : "ready").Bool(ok).EndObject();
    return o;
  }
  if (seg.size() < 3 || seg[1] != "models") {
    return fail(MakeProblem("not_found", "no route for " + std::string(inv.path)));
  }
  // /v2/models/{m}[/versions/{v}][/ready|/infer]
  std::string_view model = seg[2];
  size_t next = 3;
  std::string_view version;
  if (seg.size() >= 5 && seg[3] == "versions") {
    version = seg[4];
    next = 5;
  }
  std::string_view action = next < seg.size() ? seg[next] : std::string_view();
  if (next + (action.empty() ? 0 : 1) != seg.size() ||
      (!action.empty() && action != "ready" && action != "infer")) {
    return fail(MakeProblem("not_found", "no route for " + std::string(inv.path)));
  }
  if (!AnsweredName(model)) {
    return fail(MakeProblem("not_found", "unknown model '" + std::string(model) +
                                             "'; this function serves '" + id_.model_name + "'"));
  }
  if (!version.empty() && version != id_.model_version) {
    return fail(MakeProblem("not_found", "model '" + id_.model_name + "' has no version '" +
                                             std::string(version) + "'; it serves version '" +
                                             id_.model_version + "'"));
  }
  if (action == "infer") {
    *route = kV2Infer;
    if (inv.method != "POST") return fail(MakeProblem("method_not_allowed", "use POST"));
    return V2Infer(inv, limits, error_code);
  }
  if (!get) return fail(MakeProblem("method_not_allowed", "use GET"));
  if (action == "ready") {
    o.status = ready() ? 200 : 503;
    w.BeginObject().Key("name").String(id_.model_name).Key("ready").Bool(ready()).EndObject();
    return o;
  }
  const ModelSchema& s = engine_->schema();
  w.BeginObject();
  w.Key("name").String(id_.model_name);
  w.Key("versions").BeginArray().String(id_.model_version).EndArray();
  w.Key("platform").String("onnxruntime_onnx");
  w.Key("inputs");
  WriteSpecs(w, s.inputs, false, engine_->pipeline(), SpecStyle::kV2Inputs);
  w.Key("outputs");
  WriteSpecs(w, AnsweredOutputs(*engine_), false);
  w.EndObject();
  return o;
}

Outcome FunctionCore::V2Infer(const Invocation& inv, const RunLimits& limits,
                              std::string* error_code) {
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
  auto result = RunPrepared(*engine_, *prepared, limits);
  if (!result.ok()) return fail(ProblemFromStatus(result.status()));
  auto reported = ReportOutputs(engine_->pipeline(), std::move(result).value(), prepared->inputs);
  if (!reported.ok()) return fail(ProblemFromStatus(reported.status()));
  std::vector<Tensor> outputs;
  outputs.reserve(reported->size());
  for (ReportedOutput& r : *reported) outputs.push_back(ReportedToV2Tensor(std::move(r)));
  Outcome o;
  auto header_len = WriteV2Response(id_.model_name, id_.model_version, doc->Find("id"), outputs,
                                    prepared->binary_outputs, &o.body);
  if (header_len) {
    o.content_type = "application/octet-stream";
    o.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*header_len));
  }
  return o;
}

Outcome FunctionCore::Health() {
  Outcome o;
  o.status = ready() ? 200 : 503;
  JsonWriter w(&o.body);
  w.BeginObject();
  w.Key("status").String(ready() ? "ok" : "loading");
  w.Key("model").String(id_.model_name);
  w.Key("version").String(id_.model_version);
  w.Key("ready").Bool(ready());
  w.Key("uptime_s").Double(static_cast<double>(clock_->MonotonicNanos() - start_nanos_) / 1e9);
  w.Key("cold_start").BeginObject();
  w.Key("runtime_init_ms").Double(timings_.runtime_init_ms);
  w.Key("model_fetch_ms").Double(timings_.model_fetch_ms);
  w.Key("model_verify_ms").Double(timings_.model_verify_ms);
  w.Key("model_load_ms").Double(timings_.model_load_ms);
  w.Key("ort_env_ms").Double(timings_.ort_env_ms);
  w.Key("warmup_ms").Double(timings_.warmup_ms);
  w.Key("first_request_served").Bool(!cold_.load());
  w.EndObject();
  w.Key("requests").Uint(stats_.Total());
  w.EndObject();
  return o;
}

Outcome FunctionCore::Models() {
  Outcome o;
  JsonWriter w(&o.body);
  w.BeginObject().Key("models").BeginArray().BeginObject();
  w.Key("name").String(id_.model_name);
  w.Key("version").String(id_.model_version);
  w.Key("ready").Bool(ready());
  w.Key("inputs");
  WriteSpecs(w, engine_->schema().inputs, true, engine_->pipeline(), SpecStyle::kV1Inputs);
  w.Key("outputs");
  WriteSpecs(w, engine_->schema().outputs, true, engine_->pipeline(), SpecStyle::kV1Outputs);
  w.EndObject().EndArray().EndObject();
  return o;
}

Outcome FunctionCore::Metrics() {
  Outcome o;
  o.content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::string& out = o.body;
  stats_.AppendPrometheus(&out);
  char buf[2048];
  snprintf(buf, sizeof buf,
           "# HELP modelfn_model_info The model this instance serves.\n"
           "# TYPE modelfn_model_info gauge\n"
           "modelfn_model_info{model=\"%s\",version=\"%s\"} 1\n"
           "# HELP modelfn_ready Whether the model is loaded and serving.\n"
           "# TYPE modelfn_ready gauge\nmodelfn_ready %d\n"
           "# HELP modelfn_cold_starts_total Cold starts of this process (1 once the first request "
           "is served).\n"
           "# TYPE modelfn_cold_starts_total counter\nmodelfn_cold_starts_total %d\n",
           id_.model_name.c_str(), id_.model_version.c_str(), ready() ? 1 : 0,
           cold_.load() ? 0 : 1);
  out.append(buf);
  snprintf(buf, sizeof buf,
           "# HELP modelfn_init_phase_seconds Duration of each init phase of this process.\n"
           "# TYPE modelfn_init_phase_seconds gauge\n"
           "modelfn_init_phase_seconds{phase=\"runtime_init\"} %.6f\n"
           "modelfn_init_phase_seconds{phase=\"model_fetch\"} %.6f\n"
           "modelfn_init_phase_seconds{phase=\"model_verify\"} %.6f\n"
           "modelfn_init_phase_seconds{phase=\"model_load\"} %.6f\n"
           "modelfn_init_phase_seconds{phase=\"warmup\"} %.6f\n"
           "# HELP modelfn_uptime_seconds Seconds since the function started.\n"
           "# TYPE modelfn_uptime_seconds gauge\nmodelfn_uptime_seconds %.3f\n",
           timings_.runtime_init_ms / 1e3, timings_.model_fetch_ms / 1e3,
           timings_.model_verify_ms / 1e3, timings_.model_load_ms / 1e3, timings_.warmup_ms / 1e3,
           static_cast<double>(clock_->MonotonicNanos() - start_nanos_) / 1e9);
  out.append(buf);
  return o;
}

}  // namespace modelfn
