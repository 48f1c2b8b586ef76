// The handler core's metadata routes: the Open Inference Protocol's server and model metadata,
// health, the model list and Prometheus metrics.
#include <cstdio>

#include "function/function_core.h"
#include "function/function_core_outcomes.h"
#include "pipeline/pipeline.h"

namespace modelfn {
namespace {

constexpr std::string_view kServerVersion = "0.1.0";

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

Outcome FunctionCore::V2(const Invocation& inv, const RunLimits& limits, Route* route,
                         std::string* error_code, Deferred* deferred) {
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
    return V2Infer(inv, limits, error_code, deferred);
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
  if (batcher_ != nullptr) batcher_->AppendPrometheus(&out);
  return o;
}

}  // namespace modelfn
