#include "platform/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "common/cpu_quota.h"
#include "common/files.h"
#include "events/sqs_arn.h"
#include "function/batch_policy.h"
#include "function/ort_threads.h"
#include "platform/config_internal.h"
#include "platform/yaml.h"
#include "store/store_uri.h"

namespace modelfn {

const char* InstanceFaceName(InstanceFace face) {
  switch (face) {
    case InstanceFace::kLambda:
      return "lambda";
    case InstanceFace::kHttp:
      return "http";
    case InstanceFace::kCloudEvents:
      return "cloudevents";
    case InstanceFace::kAzure:
      return "azure";
  }
  return "lambda";
}

namespace {

using config_internal::FieldError;
using config_internal::Fields;

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return s[0] != '.';
}

// "name" or "name@version".
Status SplitModelRef(const std::string& ref, const std::string& path, std::string* name,
                     std::string* version) {
  size_t at = ref.find('@');
  *name = ref.substr(0, at);
  *version = at == std::string::npos ? "" : ref.substr(at + 1);
  if (!ValidName(*name) || (at != std::string::npos && !ValidName(*version))) {
    return FieldError(path, "expected NAME or NAME@VERSION, got '" + ref + "'");
  }
  return Status::Ok();
}

// `start: fork | exec` (absent: kDefault).
Status ParseStart(const Json* v, const std::string& path, StartMode* out) {
  if (v == nullptr || v->is_null()) return Status::Ok();
  if (v->is_string() && v->AsString() == "fork") {
    *out = StartMode::kFork;
  } else if (v->is_string() && v->AsString() == "exec") {
    *out = StartMode::kExec;
  } else {
    return FieldError(path, "expected fork or exec");
  }
  return Status::Ok();
}

// `batching:` (on | off | {max_batch: N, max_delay_ms: auto | N, p99_ms: N, runners: N}):
// dynamic batching inside the function's instances, which read it from MODELFN_BATCHING.
Status ParseBatching(const Json* b, const std::string& path, FunctionConfig* fn) {
  if (b == nullptr || b->is_null()) return Status::Ok();
  std::string spec;
  if (b->is_bool()) {
    spec = b->AsBool() ? "on" : "off";
  } else if (b->is_string()) {
    spec = b->AsString();
  } else if (b->is_object()) {
    for (const auto& [k, v] : b->AsObject()) {
      if (!v.is_string() && !v.is_number()) {
        return FieldError(path + "." + k, "expected a number (or auto for max_delay_ms)");
      }
      spec += (spec.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.AsString() : v.Dump());
    }
    if (spec.empty()) spec = "on";
  } else {
    return FieldError(path, "expected on, off or {max_batch, max_delay_ms, p99_ms, runners}");
  }
  auto options = ParseBatchingOptions(spec);
  if (!options.ok()) return FieldError(path, options.status().message());
  if (!options->enabled()) return Status::Ok();
  if (fn->mode == InstanceMode::kLambda) {
    // An instance takes one event at a time: the gateway merges the requests already waiting
    // for an instance into one /v1/batch invocation instead (the holder), without waiting for
    // more, so only the size applies.
    for (const char* key : {"max_delay_ms", "p99_ms", "runners"}) {
      if (spec.find(key) != std::string::npos) {
        return FieldError(path + "." + key,
                          "lambda mode merges only requests already waiting for an instance; "
                          "max_batch is the one setting (the others are for mode: http)");
      }
    }
    if (!fn->command.empty()) {
      return FieldError(path,
                        "a custom runtime (command:) is not known to serve /v1/batch, which "
                        "merged requests are sent as");
    }
    fn->held_batch = options->max_batch;
    return Status::Ok();
  }
  if (fn->concurrency < 2) {
    return FieldError(path,
                      "batching merges concurrent requests; set concurrency above 1 (the "
                      "requests an instance takes at once)");
  }
  fn->env["MODELFN_BATCHING"] = BatchingOptionsString(*options);
  return Status::Ok();
}

// `async: {max_retries, max_age_s, retry_base_s, retry_cap_s, on_success, on_failure,
// idempotency_window_s, max_in_flight}`. Destinations are resolved against the config's folder
// by ParsePlatformConfig.
Status ParseAsync(const Json* a, const std::string& path, AsyncConfig* out) {
  if (a == nullptr || a->is_null()) return Status::Ok();
  Fields f(a, path);
  if (!a->is_object()) return FieldError(path, "expected a mapping");
  RETURN_IF_ERROR(
      f.CheckKnown({"max_retries", "max_age_s", "retry_base_s", "retry_cap_s", "on_success",
                    "on_failure", "idempotency_window_s", "max_in_flight"}));
  RETURN_IF_ERROR(f.Int("max_retries", 0, 100, &out->max_retries));
  RETURN_IF_ERROR(f.Number("max_age_s", 1, 7 * 86400, &out->max_age_s));
  RETURN_IF_ERROR(f.Number("retry_base_s", 0.001, 3600, &out->retry_base_s));
  RETURN_IF_ERROR(f.Number("retry_cap_s", 0.001, 86400, &out->retry_cap_s));
  if (out->retry_cap_s < out->retry_base_s) {
    return FieldError(path + ".retry_cap_s", "is below retry_base_s");
  }
  RETURN_IF_ERROR(f.String("on_success", &out->on_success));
  RETURN_IF_ERROR(f.String("on_failure", &out->on_failure));
  for (const std::string* dest : {&out->on_success, &out->on_failure}) {
    if (dest->empty()) continue;
    if (dest->rfind("arn:", 0) == 0) {  // a queue: an SQS ARN
      if (!events::IsQueueDestination(*dest)) {
        return FieldError(path + (dest == &out->on_success ? ".on_success" : ".on_failure"),
                          "an ARN destination must name an SQS queue (arn:aws:sqs:REGION:"
                          "ACCOUNT:NAME)");
      }
      auto url = events::SqsQueueUrlOfArn(
          *dest, [](const std::string&) { return std::optional<std::string>(); });
      if (!url.ok()) {
        return FieldError(path + (dest == &out->on_success ? ".on_success" : ".on_failure"),
                          url.status().message());
      }
      continue;
    }
    if (auto uri = ParseStoreUri(*dest); !uri.ok()) {
      return FieldError(path + (dest == &out->on_success ? ".on_success" : ".on_failure"),
                        uri.status().message());
    }
  }
  RETURN_IF_ERROR(f.Number("idempotency_window_s", 0, 7 * 86400, &out->idempotency_window_s));
  RETURN_IF_ERROR(f.Int("max_in_flight", 1, 4096, &out->max_in_flight));
  return Status::Ok();
}

// `threads:` (auto | N): ONNX Runtime threads per Run in the function's instances, which read it
// from MODELFN_ORT_INTRA_OP_THREADS (function/ort_threads.h). Checked here, applied by
// ApplyThreads.
Status ParseThreads(const Json* t, const std::string& path, FunctionConfig* fn) {
  if (t == nullptr || t->is_null()) return Status::Ok();
  if (!t->is_string() && !t->is_number()) return FieldError(path, "expected auto or a number");
  std::string setting = t->is_string() ? t->AsString() : t->Dump();
  auto choice = ChooseOrtThreads(setting, "", OrtThreadsFacts());
  if (!choice.ok()) return FieldError(path, choice.status().message());
  fn->threads = setting;
  return Status::Ok();
}

// What the function's instances are told about threads, once its start mode is known. A lambda-mode
// instance serves one event at a time and on its own would take every CPU of the host, as on Lambda
// where the CPUs are its own; here max_instances of them share the host, so unless the function
// says otherwise each gets its share. A template (start: fork) holds no thread pool: its instances
// run each Run on one thread (a number above 1 makes them exec'd). A function with `cpus:` has a
// share of its own, which its instances read (MODELFN_CPUS or their cgroup) and size "auto" from.
void ApplyThreads(int host_cpus, FunctionConfig* fn) {
  if (fn->env.count("MODELFN_ORT_INTRA_OP_THREADS") != 0) return;  // env: wins, as written
  std::string setting = fn->threads;
  if ((setting.empty() || setting == "auto") && fn->mode == InstanceMode::kLambda &&
      fn->start == StartMode::kExec && fn->cpus <= 0) {
    setting = std::to_string(std::max(1, host_cpus / std::max(1, fn->max_instances)));
  }
  if (!setting.empty()) fn->env["MODELFN_ORT_INTRA_OP_THREADS"] = setting;
}

StatusOr<FunctionConfig> ParseFunction(const std::string& name, const Json& v, int host_cpus) {
  std::string path = "functions." + name;
  if (!ValidName(name)) return FieldError(path, "a function name is [A-Za-z0-9._-]{1,64}");
  Fields f(&v, path);
  RETURN_IF_ERROR(f.CheckObject());
  RETURN_IF_ERROR(f.CheckKnown(
      {"model",           "mode",      "concurrency",    "min_instances",  "max_instances",
       "idle_ttl_s",      "timeout_s", "memory_mb",      "cpus",           "max_queue",
       "queue_timeout_s", "traffic",   "sticky_traffic", "response_cache", "env",
       "command",         "start",     "face",           "batching",       "threads",
       "async",           "sqs"}));
  FunctionConfig fn;
  fn.name = name;
  std::string model = name;
  RETURN_IF_ERROR(f.String("model", &model));
  RETURN_IF_ERROR(SplitModelRef(model, f.Path("model"), &fn.model, &fn.version));
  std::string mode, face;
  RETURN_IF_ERROR(f.String("mode", &mode));
  RETURN_IF_ERROR(f.String("face", &face));
  if (mode.empty()) {
    mode = face.empty() || face == "lambda" ? "lambda" : "http";
  }
  if (mode == "lambda") {
    fn.mode = InstanceMode::kLambda;
  } else if (mode == "http") {
    fn.mode = InstanceMode::kHttp;
  } else {
    return FieldError(f.Path("mode"), "expected lambda or http, got '" + mode + "'");
  }
  if (face.empty()) face = mode;
  if (face == "lambda") {
    fn.face = InstanceFace::kLambda;
  } else if (face == "http") {
    fn.face = InstanceFace::kHttp;
  } else if (face == "cloudevents") {
    fn.face = InstanceFace::kCloudEvents;
  } else if (face == "azure") {
    fn.face = InstanceFace::kAzure;
  } else {
    return FieldError(f.Path("face"),
                      "expected lambda, http, cloudevents or azure, got '" + face + "'");
  }
  if ((fn.face == InstanceFace::kLambda) != (fn.mode == InstanceMode::kLambda)) {
    return FieldError(f.Path("face"), fn.face == InstanceFace::kLambda
                                          ? "the lambda face runs in lambda mode"
                                          : "the " + face + " face runs in http mode");
  }
  RETURN_IF_ERROR(f.Int("concurrency", 1, 1000, &fn.concurrency));
  if (fn.mode == InstanceMode::kLambda && fn.concurrency != 1) {
    return FieldError(f.Path("concurrency"), "lambda mode serves one request per instance");
  }
  RETURN_IF_ERROR(f.Int("min_instances", 0, 1000, &fn.min_instances));
  // Cold starts and CPU-bound requests on the same cores slow each other down: by default no
  // more instances than the host can run at once (but at least the ones asked to be kept).
  fn.max_instances = std::min(1000, std::max({1, host_cpus, fn.min_instances}));
  RETURN_IF_ERROR(f.Int("max_instances", 1, 1000, &fn.max_instances));
  if (fn.min_instances > fn.max_instances) {
    return FieldError(f.Path("min_instances"), "is above max_instances");
  }
  RETURN_IF_ERROR(f.Number("idle_ttl_s", 0, 86400, &fn.idle_ttl_s));
  RETURN_IF_ERROR(f.Number("timeout_s", 0.001, 900, &fn.timeout_s));
  RETURN_IF_ERROR(f.Int("memory_mb", 32, 1 << 20, &fn.memory_mb));
  RETURN_IF_ERROR(f.Number("cpus", 0.05, 64, &fn.cpus));
  RETURN_IF_ERROR(f.Int("max_queue", 0, 1 << 20, &fn.max_queue));
  RETURN_IF_ERROR(f.Number("queue_timeout_s", 0, 900, &fn.queue_timeout_s));
  RETURN_IF_ERROR(f.Bool("sticky_traffic", &fn.sticky_traffic));
  RETURN_IF_ERROR(f.Bool("response_cache", &fn.response_cache));
  if (const Json* t = f.Get("traffic"); t != nullptr && !t->is_null()) {
    if (!t->is_object() || t->AsObject().empty()) {
      return FieldError(f.Path("traffic"), "expected {NAME@VERSION: weight, ...}");
    }
    int total = 0;
    for (const auto& [ref, w] : t->AsObject()) {
      std::string tp = f.Path("traffic") + "." + ref;
      std::string m, ver;
      RETURN_IF_ERROR(SplitModelRef(ref, tp, &m, &ver));
      if (m != fn.model || ver.empty()) {
        return FieldError(tp, "expected " + fn.model + "@VERSION (the function's model, pinned)");
      }
      if (!w.is_integral() || !w.fits_int64() || w.AsInt64() < 0 || w.AsInt64() > 100) {
        return FieldError(tp, "expected a weight in [0, 100] (percent of requests)");
      }
      fn.traffic.push_back(TrafficSplit{ver, static_cast<int>(w.AsInt64())});
      total += static_cast<int>(w.AsInt64());
    }
    // Weights are percentages: a split that does not add up is a typo, not a ratio to normalise.
    if (total != 100) {
      return FieldError(f.Path("traffic"),
                        "weights add up to " + std::to_string(total) + ", expected 100");
    }
  }
  RETURN_IF_ERROR(f.StringList("command", &fn.command));
  RETURN_IF_ERROR(ParseStart(f.Get("start"), f.Path("start"), &fn.start));
  if (!fn.command.empty() && fn.mode != InstanceMode::kLambda) {
    return FieldError(f.Path("command"), "a custom runtime runs in lambda mode only");
  }
  if (const Json* e = f.Get("env"); e != nullptr && !e->is_null()) {
    if (!e->is_object()) return FieldError(f.Path("env"), "expected a mapping");
    for (const auto& [k, val] : e->AsObject()) {
      if (!val.is_string() && !val.is_number() && !val.is_bool()) {
        return FieldError(f.Path("env") + "." + k, "expected a scalar");
      }
      fn.env[k] = val.is_string() ? val.AsString() : val.Dump();
    }
  }
  RETURN_IF_ERROR(ParseBatching(f.Get("batching"), f.Path("batching"), &fn));
  RETURN_IF_ERROR(ParseAsync(f.Get("async"), f.Path("async"), &fn.async));
  if (const Json* q = f.Get("sqs"); q != nullptr && !q->is_null()) {
    Fields s(q, f.Path("sqs"));
    if (!q->is_object()) return FieldError(f.Path("sqs"), "expected a mapping");
    RETURN_IF_ERROR(
        s.CheckKnown({"queue_url", "batch_size", "batching_window_s", "visibility_timeout_s"}));
    RETURN_IF_ERROR(s.String("queue_url", &fn.sqs.queue_url));
    if (fn.sqs.queue_url.rfind("http://", 0) != 0 && fn.sqs.queue_url.rfind("https://", 0) != 0) {
      return FieldError(s.Path("queue_url"),
                        "expected the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)");
    }
    RETURN_IF_ERROR(s.Int("batch_size", 1, 10000, &fn.sqs.batch_size));
    RETURN_IF_ERROR(s.Number("batching_window_s", 0, 300, &fn.sqs.batching_window_s));
    RETURN_IF_ERROR(s.Int("visibility_timeout_s", 0, 43200, &fn.sqs.visibility_timeout_s));
    if (fn.mode != InstanceMode::kLambda) {
      return FieldError(f.Path("sqs"), "an SQS queue feeds lambda-mode functions (SQS events)");
    }
  }
  RETURN_IF_ERROR(ParseThreads(f.Get("threads"), f.Path("threads"), &fn));
  return fn;
}

Status ParseListen(const std::string& listen, GatewayConfig* g) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return FieldError("gateway.listen", "expected HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  char* end = nullptr;
  long port = strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535 || colon + 1 == listen.size()) {
    return FieldError("gateway.listen", "expected HOST:PORT with a port in [0, 65535]");
  }
  g->host = host;
  g->port = static_cast<int>(port);
  return Status::Ok();
}

StatusOr<GatewayConfig> ParseGateway(const Json* v, const std::string& base_dir) {
  GatewayConfig g;
  Fields f(v, "gateway");
  RETURN_IF_ERROR(f.CheckObject());
  RETURN_IF_ERROR(f.CheckKnown({"listen", "auth", "cors", "limits", "allow_unauthenticated",
                                "workers", "tls", "public_routes", "drain_timeout_s"}));
  std::string listen;
  RETURN_IF_ERROR(f.String("listen", &listen));
  if (!listen.empty()) RETURN_IF_ERROR(ParseListen(listen, &g));
  RETURN_IF_ERROR(f.Bool("allow_unauthenticated", &g.allow_unauthenticated));
  RETURN_IF_ERROR(f.Int("workers", 0, 256, &g.workers));
  RETURN_IF_ERROR(f.Number("drain_timeout_s", 0, 3600, &g.drain_timeout_s));
  Fields auth(f.Get("auth"), "gateway.auth");
  RETURN_IF_ERROR(auth.CheckObject());
  RETURN_IF_ERROR(auth.CheckKnown({"api_keys", "jwt"}));
  RETURN_IF_ERROR(auth.Bool("api_keys", &g.api_keys));
  if (const Json* j = auth.Get("jwt"); j != nullptr && !j->is_null()) {
    Fields jf(j, "gateway.auth.jwt");
    RETURN_IF_ERROR(jf.CheckObject());
    RETURN_IF_ERROR(jf.CheckKnown({"jwks", "issuer", "audience", "leeway_s"}));
    RETURN_IF_ERROR(jf.String("jwks", &g.jwt.jwks));
    RETURN_IF_ERROR(jf.String("issuer", &g.jwt.issuer));
    RETURN_IF_ERROR(jf.StringList("audience", &g.jwt.audience));
    RETURN_IF_ERROR(jf.Number("leeway_s", 0, 600, &g.jwt.leeway_s));
    if (g.jwt.jwks.empty()) return FieldError("gateway.auth.jwt.jwks", "is required");
    if (g.jwt.jwks.rfind("http://", 0) != 0 && g.jwt.jwks.rfind("https://", 0) != 0 &&
        g.jwt.jwks[0] != '/') {
      g.jwt.jwks = base_dir + "/" + g.jwt.jwks;
    }
    g.jwt_enabled = true;
  }
  Fields tls(f.Get("tls"), "gateway.tls");
  RETURN_IF_ERROR(tls.CheckObject());
  RETURN_IF_ERROR(tls.CheckKnown({"cert", "key", "client_ca"}));
  RETURN_IF_ERROR(tls.String("cert", &g.tls_cert));
  RETURN_IF_ERROR(tls.String("key", &g.tls_key));
  RETURN_IF_ERROR(tls.String("client_ca", &g.tls_client_ca));
  if (g.tls_cert.empty() != g.tls_key.empty() || (!g.tls_client_ca.empty() && g.tls_cert.empty())) {
    return FieldError("gateway.tls", "needs both cert and key (and client_ca only with them)");
  }
  for (std::string* path : {&g.tls_cert, &g.tls_key, &g.tls_client_ca}) {
    if (!path->empty() && (*path)[0] != '/') *path = base_dir + "/" + *path;
  }
  Fields cors(f.Get("cors"), "gateway.cors");
  RETURN_IF_ERROR(cors.CheckObject());
  RETURN_IF_ERROR(cors.CheckKnown({"origins"}));
  RETURN_IF_ERROR(cors.StringList("origins", &g.cors_origins));
  RETURN_IF_ERROR(f.StringList("public_routes", &g.public_routes));
  for (const std::string& r : g.public_routes) {
    bool known = false;
    for (const char* route : kPublishableRoutes) known = known || r == route;
    if (!known) {
      std::string list;
      for (const char* route : kPublishableRoutes)
        list += (list.empty() ? "" : ", ") + std::string(route);
      return FieldError("gateway.public_routes",
                        "'" + r + "' is not one of the platform's own routes (" + list + ")");
    }
  }
  Fields limits(f.Get("limits"), "gateway.limits");
  RETURN_IF_ERROR(limits.CheckObject());
  RETURN_IF_ERROR(limits.CheckKnown({"max_body_bytes"}));
  int64_t max_body = static_cast<int64_t>(g.max_body_bytes);
  RETURN_IF_ERROR(limits.Int("max_body_bytes", int64_t{1}, int64_t{1} << 32, &max_body));
  g.max_body_bytes = static_cast<size_t>(max_body);
  if (!IsLoopbackHost(g.host) && !g.HasAuth() && !g.allow_unauthenticated) {
    return FieldError("gateway.listen",
                      "refusing to listen on " + g.host +
                          " with no auth: enable gateway.auth (api_keys or jwt) or client "
                          "certificates (gateway.tls.client_ca), or set "
                          "gateway.allow_unauthenticated: true");
  }
  return g;
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  // An address, parsed: a name such as 127.evil.example resolves wherever its owner wants.
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] == 127;  // ::ffff:127.x.y.z
  }
  return false;
}

const FunctionConfig* PlatformConfig::Find(std::string_view name) const {
  for (const auto& f : functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const PlanConfig* PlatformConfig::FindPlan(std::string_view name) const {
  for (const auto& p : plans) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

StatusOr<PlatformConfig> ParsePlatformConfig(const Json& doc, const std::string& base_dir,
                                             int host_cpus) {
  if (host_cpus <= 0) host_cpus = ReadCpuQuota().EffectiveCpus();
  if (!doc.is_object()) return InvalidArgumentError("the configuration must be a mapping");
  Fields top(&doc, "config");
  RETURN_IF_ERROR(top.CheckKnown({"store", "state_dir", "functions", "gateway", "plans", "start",
                                  "triggers", "async_retention_s"}));
  StartMode start = StartMode::kFork;
  RETURN_IF_ERROR(ParseStart(doc.Find("start"), "start", &start));
  if (start == StartMode::kDefault) start = StartMode::kFork;
  PlatformConfig c;
  c.base_dir = base_dir;
  std::string store = "./models";
  RETURN_IF_ERROR(top.String("store", &store));
  if (!HasStoreScheme(store)) {
    std::string abs = store[0] == '/' ? store : base_dir + "/" + store;
    store = "file://" + NormalizePath(abs);
  }
  c.store = store;
  std::string state = ".modelfn";
  RETURN_IF_ERROR(top.String("state_dir", &state));
  c.state_dir = NormalizePath(state[0] == '/' ? state : base_dir + "/" + state);
  const Json* fns = doc.Find("functions");
  if (fns == nullptr || !fns->is_object() || fns->AsObject().empty()) {
    return FieldError("functions", "expected at least one function");
  }
  for (const auto& [name, v] : fns->AsObject()) {
    ASSIGN_OR_RETURN(FunctionConfig fn, ParseFunction(name, v, host_cpus));
    if (fn.start == StartMode::kDefault) fn.start = start;
    ApplyThreads(host_cpus, &fn);
    for (std::string* dest : {&fn.async.on_success, &fn.async.on_failure}) {
      if (!dest->empty() && !HasStoreScheme(*dest) && (*dest)[0] != '/' &&
          dest->rfind("arn:", 0) != 0) {
        *dest = NormalizePath(base_dir + "/" + *dest);
      }
    }
    if (fn.async.max_in_flight == 0) fn.async.max_in_flight = fn.max_instances * fn.concurrency;
    c.functions.push_back(std::move(fn));
  }
  ASSIGN_OR_RETURN(c.gateway, ParseGateway(doc.Find("gateway"), base_dir));
  RETURN_IF_ERROR(top.Number("async_retention_s", 60, 365 * 86400, &c.async_retention_s));
  RETURN_IF_ERROR(config_internal::ParseTriggers(doc.Find("triggers"), base_dir, &c));
  if (const Json* plans = doc.Find("plans"); plans != nullptr && !plans->is_null()) {
    if (!plans->is_object()) return FieldError("plans", "expected a mapping of plan names");
    for (const auto& [name, v] : plans->AsObject()) {
      Fields p(&v, "plans." + name);
      RETURN_IF_ERROR(p.CheckObject());
      RETURN_IF_ERROR(p.CheckKnown({"rate_per_s", "burst", "daily_quota", "monthly_quota"}));
      PlanConfig plan;
      plan.name = name;
      RETURN_IF_ERROR(p.Number("rate_per_s", 0, 1e9, &plan.rate_per_s));
      plan.burst = plan.rate_per_s;
      RETURN_IF_ERROR(p.Number("burst", 0, 1e9, &plan.burst));
      RETURN_IF_ERROR(p.Int("daily_quota", int64_t{0}, int64_t{1} << 50, &plan.daily_quota));
      RETURN_IF_ERROR(p.Int("monthly_quota", int64_t{0}, int64_t{1} << 50, &plan.monthly_quota));
      if (plan.rate_per_s > 0 && plan.burst < 1) {
        return FieldError("plans." + name + ".burst", "must be at least 1 when rate_per_s is set");
      }
      if (plan.daily_quota > 0 && plan.monthly_quota > 0 && plan.daily_quota > plan.monthly_quota) {
        return FieldError("plans." + name + ".daily_quota",
                          "is above monthly_quota: the month runs out first");
      }
      c.plans.push_back(plan);
    }
  }
  return c;
}

StatusOr<PlatformConfig> LoadPlatformConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto doc = ParseYaml(text);
  if (!doc.ok()) return InvalidArgumentError(path + ": " + doc.status().message());
  std::string abs = NormalizePath(path[0] == '/' ? path : CurrentDir() + "/" + path);
  std::string base = abs.substr(0, abs.rfind('/'));
  if (base.empty()) base = "/";
  auto c = ParsePlatformConfig(*doc, base);
  if (!c.ok()) return InvalidArgumentError(path + ": " + c.status().message());
  return c;
}

}  // namespace modelfn
