#include "gateway/openapi.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include "common/json.h"
#include "tensor/tensor.h"

namespace modelfn {
namespace {

void WriteJsonSchemaForTensor(const TensorSpec& spec, bool named_form, JsonWriter* w) {
  // Nested arrays, one level per dimension, of the datatype's JSON type.
  std::string dt = DTypeName(spec.dtype);
  std::string leaf = "number";
  if (dt == "BOOL") {
    leaf = "boolean";
  } else if (dt == "BYTES") {
    leaf = "string";
  } else if (dt.rfind("INT", 0) == 0 || dt.rfind("UINT", 0) == 0) {
    leaf = "integer";
  }
  size_t depth = std::max<size_t>(1, spec.shape.size());
  for (size_t i = 0; i < depth; ++i) {
    w->BeginObject().Key("type").String("array");
    if (i < spec.shape.size() && spec.shape[i] > 0) {
      w->Key("minItems").Int(spec.shape[i]).Key("maxItems").Int(spec.shape[i]);
    }
    if (i == 0 && named_form) {
      w->Key("description").String(spec.name + " (" + dt + ")");
    }
    w->Key("items");
  }
  w->BeginObject().Key("type").String(leaf).EndObject();
  for (size_t i = 0; i < depth; ++i) w->EndObject();
}

}  // namespace

std::string BuildOpenApi(const std::vector<OpenApiFunction>& functions, const std::string& url,
                         bool api_keys, bool jwt) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("openapi").String("3.1.0");
  w.Key("info").BeginObject().Key("title").String("modelfn gateway").Key("version").String("1");
  w.Key("description").String("Inference functions served by modelfn up.").EndObject();
  w.Key("servers").BeginArray().BeginObject().Key("url").String(url).EndObject().EndArray();
  bool keys = api_keys;
  w.Key("paths").BeginObject();
  auto problem_responses = [&](JsonWriter& ww) {
    for (const char* code :
         {"400", "401", "403", "404", "413", "415", "429", "500", "502", "503", "504"}) {
      ww.Key(code).BeginObject().Key("description").String("problem (RFC 9457)");
      ww.Key("content").BeginObject().Key("application/problem+json").BeginObject();
      ww.Key("schema").BeginObject().Key("$ref").String("#/components/schemas/Problem");
      ww.EndObject().EndObject().EndObject().EndObject();
    }
  };
  for (const auto& f : functions) {
    const Manifest& m = *f.manifest;
    std::string schema_name = "InferRequest_" + f.name;
    for (const char* kind : {"infer", "batch"}) {
      std::string kind_s = kind;
      w.Key("/v1/models/" + f.name + "/" + kind_s).BeginObject();
      w.Key("post").BeginObject();
      w.Key("operationId").String(kind_s + "_" + f.name);
      w.Key("summary").String(kind_s == "infer" ? "Run " + f.name + " on one input"
                                                : "Run " + f.name + " on several inputs");
      w.Key("requestBody").BeginObject().Key("required").Bool(true);
      w.Key("content").BeginObject().Key("application/json").BeginObject().Key("schema");
      if (kind_s == "infer") {
        w.BeginObject().Key("$ref").String("#/components/schemas/" + schema_name).EndObject();
      } else {
        w.BeginObject().Key("type").String("object").Key("required").BeginArray().String("items");
        w.EndArray().Key("properties").BeginObject().Key("items").BeginObject();
        w.Key("type").String("array").Key("minItems").Int(1).Key("items").BeginObject();
        w.Key("$ref").String("#/components/schemas/" + schema_name).EndObject();
        w.EndObject().EndObject().EndObject();
      }
      w.EndObject().EndObject().EndObject();
      w.Key("responses").BeginObject();
      w.Key("200").BeginObject().Key("description").String("outputs");
      w.Key("content").BeginObject().Key("application/json").BeginObject().Key("schema");
      if (kind_s == "infer") {
        w.BeginObject().Key("$ref").String("#/components/schemas/InferResponse_" + f.name);
        w.EndObject();
      } else {
        w.BeginObject().Key("type").String("object").EndObject();
      }
      w.EndObject().EndObject().EndObject();
      problem_responses(w);
      w.EndObject();
      w.EndObject().EndObject();
    }
    (void)m;
  }
  // The routes that are not one function's: the model is chosen by ?model= or the body's
  // "model" (one function: itself), the Open Inference Protocol's, the platform's own.
  std::vector<std::string> names;
  for (const auto& f : functions) names.push_back(f.name);
  auto json_body = [&](JsonWriter& ww, const std::string& ref, bool required) {
    ww.Key("requestBody").BeginObject().Key("required").Bool(required);
    ww.Key("content").BeginObject().Key("application/json").BeginObject().Key("schema");
    ww.BeginObject().Key("$ref").String(ref).EndObject().EndObject().EndObject().EndObject();
  };
  auto ok = [&](JsonWriter& ww, const char* status, const char* description,
                const char* type = "application/json") {
    ww.Key(status).BeginObject().Key("description").String(description);
    ww.Key("content").BeginObject().Key(type).BeginObject().Key("schema").BeginObject();
    ww.Key("type").String(std::string(type) == "application/json" ? "object" : "string");
    ww.EndObject().EndObject().EndObject().EndObject();
  };
  auto model_param = [&](JsonWriter& ww) {
    ww.BeginObject().Key("name").String("model").Key("in").String("query");
    ww.Key("required")
        .Bool(false)
        .Key("description")
        .String("the function to run (or the body's \"model\"); optional with one function");
    ww.Key("schema").BeginObject().Key("type").String("string").Key("enum").BeginArray();
    for (const auto& n : names) ww.String(n);
    ww.EndArray().EndObject().EndObject();
  };
  auto path_param = [&](JsonWriter& ww, const char* name, bool function) {
    ww.BeginObject().Key("name").String(name).Key("in").String("path").Key("required").Bool(true);
    ww.Key("schema").BeginObject().Key("type").String("string");
    if (function) {
      ww.Key("enum").BeginArray();
      for (const auto& n : names) ww.String(n);
      ww.EndArray();
    }
    ww.EndObject().EndObject();
  };
  for (const char* kind : {"infer", "batch"}) {
    const bool infer = std::string(kind) == "infer";
    w.Key(std::string("/v1/") + kind).BeginObject().Key("post").BeginObject();
    w.Key("operationId").String(std::string(kind) + "_by_model");
    w.Key("summary").String(infer ? "Run the function named by ?model= (or the body's \"model\")"
                                  : "Run it on several inputs: {\"items\": [...]}");
    w.Key("parameters").BeginArray();
    model_param(w);
    w.EndArray();
    json_body(w, infer ? "#/components/schemas/AnyInferRequest" : "#/components/schemas/AnyBatch",
              true);
    w.Key("responses").BeginObject();
    ok(w, "200", "outputs");
    problem_responses(w);
    w.EndObject().EndObject().EndObject();
  }
  // Open Inference Protocol (KServe V2), at /v2/models/{model}[/versions/{version}]/...
  for (const char* p : {"/v2", "/v2/health/live", "/v2/health/ready"}) {
    w.Key(p).BeginObject().Key("get").BeginObject();
    std::string op = std::string("v2") + (std::string(p) == "/v2" ? "/server" : p + 3);
    std::replace(op.begin(), op.end(), '/', '_');
    w.Key("operationId").String(op);
    w.Key("security").BeginArray().EndArray();
    w.Key("responses").BeginObject();
    ok(w, "200", "the server's metadata or health");
    w.EndObject().EndObject().EndObject();
  }
  for (bool versioned : {false, true}) {
    const std::string base =
        std::string("/v2/models/{model}") + (versioned ? "/versions/{version}" : "");
    const std::string id = versioned ? "_version" : "";
    for (const char* tail : {"", "/ready", "/infer"}) {
      const std::string t = tail;
      w.Key(base + t).BeginObject().Key(t == "/infer" ? "post" : "get").BeginObject();
      w.Key("operationId")
          .String("v2_model" + id +
                  (t.empty()       ? "_metadata"
                   : t == "/ready" ? "_ready"
                                   : "_infer"));
      w.Key("parameters").BeginArray();
      path_param(w, "model", true);
      if (versioned) path_param(w, "version", false);
      w.EndArray();
      if (t == "/infer") json_body(w, "#/components/schemas/V2InferRequest", true);
      w.Key("responses").BeginObject();
      ok(w, "200", t == "/infer" ? "the outputs as V2 tensors" : "metadata or readiness");
      for (const char* code : {"400", "404", "503"}) {
        w.Key(code).BeginObject().Key("description").String("{\"error\": ...}").EndObject();
      }
      w.EndObject().EndObject().EndObject();
    }
  }
  // Asynchronous invocation (docs/events.md).
  for (bool batch : {false, true}) {
    w.Key(std::string("/v1/async/{function}") + (batch ? "/batch" : "")).BeginObject();
    w.Key("post").BeginObject().Key("operationId").String(batch ? "async_batch" : "async_submit");
    w.Key("parameters").BeginArray();
    path_param(w, "function", true);
    w.BeginObject().Key("name").String("Idempotency-Key").Key("in").String("header");
    w.Key("required").Bool(false).Key("schema").BeginObject().Key("type").String("string");
    w.Key("minLength").Int(1).Key("maxLength").Int(255).EndObject().EndObject();
    w.EndArray();
    json_body(w, batch ? "#/components/schemas/AnyBatch" : "#/components/schemas/AnyInferRequest",
              true);
    w.Key("responses").BeginObject();
    ok(w, "202", "queued: its id and location");
    ok(w, "200", "an earlier invocation with the same Idempotency-Key");
    problem_responses(w);
    w.EndObject().EndObject().EndObject();
  }
  w.Key("/v1/async/{id}").BeginObject().Key("get").BeginObject();
  w.Key("operationId").String("async_status").Key("parameters").BeginArray();
  path_param(w, "id", false);
  w.EndArray().Key("responses").BeginObject();
  ok(w, "200", "status, and the result once done");
  problem_responses(w);
  w.EndObject().EndObject().EndObject();
  // Lambda's Invoke API for lambda-mode functions: the body is the event.
  std::vector<std::string> lambda_names;
  for (const auto& f : functions) {
    if (f.lambda_mode) lambda_names.push_back(f.name);
  }
  if (!lambda_names.empty()) {
    w.Key("/2015-03-31/functions/{name}/invocations").BeginObject().Key("post").BeginObject();
    w.Key("operationId").String("lambda_invoke").Key("parameters").BeginArray();
    w.BeginObject().Key("name").String("name").Key("in").String("path").Key("required").Bool(true);
    w.Key("schema").BeginObject().Key("type").String("string").Key("enum").BeginArray();
    for (const auto& n : lambda_names) w.String(n);
    w.EndArray().EndObject().EndObject();
    w.BeginObject().Key("name").String("X-Amz-Invocation-Type").Key("in").String("header");
    w.Key("required").Bool(false).Key("schema").BeginObject().Key("enum").BeginArray();
    w.String("RequestResponse").String("Event").String("DryRun").EndArray().EndObject();
    w.EndObject().EndArray();
    json_body(w, "#/components/schemas/LambdaEvent", true);
    w.Key("responses").BeginObject();
    ok(w, "200", "the function's response payload");
    ok(w, "202", "queued (Event)");
    w.Key("204").BeginObject().Key("description").String("DryRun").EndObject();
    problem_responses(w);
    w.EndObject().EndObject().EndObject();
  }
  // The platform's own.
  for (auto [p, id, desc, type] :
       {std::tuple{"/v1/models", "models", "the functions", "application/json"},
        std::tuple{"/v1/status", "status", "instances, latency, counters", "application/json"},
        std::tuple{"/metrics", "metrics", "Prometheus text", "text/plain"}}) {
    w.Key(p).BeginObject().Key("get").BeginObject().Key("operationId").String(id);
    w.Key("responses").BeginObject();
    ok(w, "200", desc, type);
    w.EndObject().EndObject().EndObject();
  }
  w.Key("/v1/plan/{function}").BeginObject().Key("get").BeginObject();
  w.Key("operationId").String("plan");
  w.Key("description")
      .String(
          "What the function would cost and how fast it would be on each cloud and here, for "
          "the traffic it has had or a pattern (docs/plan.md): HTML, or JSON when asked");
  w.Key("parameters").BeginArray();
  w.BeginObject().Key("name").String("function").Key("in").String("path");
  w.Key("required").Bool(true).Key("schema").BeginObject().Key("type").String("string");
  w.EndObject().EndObject();
  w.BeginObject().Key("name").String("traffic").Key("in").String("query");
  w.Key("required").Bool(false).Key("schema").BeginObject().Key("type").String("string");
  w.EndObject().EndObject();
  w.EndArray();
  w.Key("responses").BeginObject();
  ok(w, "200", "the plan", "text/html");
  problem_responses(w);
  w.EndObject().EndObject().EndObject();
  w.Key("/v1/health").BeginObject().Key("get").BeginObject();
  w.Key("operationId").String("health").Key("security").BeginArray().EndArray();
  w.Key("responses").BeginObject().Key("200").BeginObject().Key("description").String("ok");
  w.EndObject().EndObject().EndObject().EndObject();
  w.EndObject();  // paths
  w.Key("components").BeginObject().Key("schemas").BeginObject();
  w.Key("Problem").BeginObject().Key("type").String("object");
  w.Key("required").BeginArray().String("type").String("title").String("status").String("code");
  w.EndArray().Key("properties").BeginObject();
  for (const char* k : {"type", "title", "detail", "code", "instance"}) {
    w.Key(k).BeginObject().Key("type").String("string").EndObject();
  }
  w.Key("status").BeginObject().Key("type").String("integer").EndObject();
  w.EndObject().EndObject();
  // Requests whose function is chosen at run time: one of the functions' own shapes.
  w.Key("AnyInferRequest").BeginObject().Key("oneOf").BeginArray();
  for (const auto& f : functions) {
    w.BeginObject().Key("$ref").String("#/components/schemas/InferRequest_" + f.name).EndObject();
  }
  w.EndArray().EndObject();
  w.Key("AnyBatch").BeginObject().Key("type").String("object");
  w.Key("required").BeginArray().String("items").EndArray().Key("properties").BeginObject();
  w.Key("items").BeginObject().Key("type").String("array").Key("minItems").Int(1);
  w.Key("maxItems")
      .Int(4096)
      .Key("items")
      .BeginObject()
      .Key("$ref")
      .String("#/components/schemas/AnyInferRequest");
  w.EndObject().EndObject().Key("model").BeginObject().Key("type").String("string").EndObject();
  w.EndObject().EndObject();
  // The Open Inference Protocol's inference request (JSON tensors).
  w.Key("V2InferRequest").BeginObject().Key("type").String("object");
  w.Key("required").BeginArray().String("inputs").EndArray().Key("properties").BeginObject();
  w.Key("id").BeginObject().Key("type").String("string").EndObject();
  w.Key("inputs").BeginObject().Key("type").String("array").Key("items").BeginObject();
  w.Key("type").String("object").Key("required").BeginArray().String("name").String("shape");
  w.String("datatype").String("data").EndArray().Key("properties").BeginObject();
  w.Key("name").BeginObject().Key("type").String("string").EndObject();
  w.Key("shape").BeginObject().Key("type").String("array").Key("items").BeginObject();
  w.Key("type").String("integer").Key("minimum").Int(0).EndObject().EndObject();
  w.Key("datatype").BeginObject().Key("type").String("string").EndObject();
  w.Key("data").BeginObject().Key("type").String("array").EndObject();
  w.EndObject().EndObject().EndObject();
  w.Key("outputs").BeginObject().Key("type").String("array").EndObject();
  w.EndObject().EndObject();
  w.Key("LambdaEvent")
      .BeginObject()
      .Key("description")
      .String(
          "an event as Lambda hands it to the function: an infer body, an API Gateway or Function "
          "URL event, S3 or SQS records");
  w.Key("type").String("object").EndObject();
  for (const auto& f : functions) {
    const Manifest& m = *f.manifest;
    w.Key("InferRequest_" + f.name).BeginObject().Key("type").String("object");
    w.Key("required").BeginArray().String("inputs").EndArray();
    w.Key("properties").BeginObject().Key("inputs").BeginObject().Key("type").String("object");
    w.Key("required").BeginArray();
    for (const auto& in : m.schema.inputs) w.String(in.name);
    w.EndArray();
    w.Key("additionalProperties").Bool(false);
    w.Key("properties").BeginObject();
    for (const auto& in : m.schema.inputs) {
      w.Key(in.name);
      WriteJsonSchemaForTensor(in, true, &w);
    }
    w.EndObject().EndObject();
    w.Key("model").BeginObject().Key("type").String("string").Key("const").String(m.name);
    w.EndObject();
    w.EndObject().EndObject();
    w.Key("InferResponse_" + f.name).BeginObject().Key("type").String("object");
    w.Key("properties").BeginObject();
    w.Key("model").BeginObject().Key("type").String("string").EndObject();
    w.Key("version").BeginObject().Key("type").String("string").EndObject();
    w.Key("outputs").BeginObject().Key("type").String("object").Key("properties").BeginObject();
    for (const auto& o : m.schema.outputs) {
      w.Key(o.name);
      WriteJsonSchemaForTensor(o, true, &w);
    }
    w.EndObject().EndObject().EndObject().EndObject();
  }
  w.EndObject();  // schemas
  if (keys || jwt) {
    w.Key("securitySchemes").BeginObject();
    if (keys) {
      w.Key("apiKey").BeginObject().Key("type").String("apiKey").Key("in").String("header");
      w.Key("name").String("X-Api-Key").EndObject();
    }
    if (jwt) {
      w.Key("bearer").BeginObject().Key("type").String("http").Key("scheme").String("bearer");
      w.Key("bearerFormat").String("JWT").EndObject();
    }
    w.EndObject();
  }
  w.EndObject();  // components
  if (keys || jwt) {
    w.Key("security").BeginArray().BeginObject();
    if (keys) w.Key("apiKey").BeginArray().EndArray();
    if (jwt) w.Key("bearer").BeginArray().EndArray();
    w.EndObject().EndArray();
  }
  w.EndObject();
  return out;
}

}  // namespace modelfn
