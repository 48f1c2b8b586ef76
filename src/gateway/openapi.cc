#include "gateway/openapi.h"

#include <algorithm>

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
