#include "faces/azure/azure_handler.h"

#include "common/json.h"
#include "http/http_server.h"
#include "http/problem.h"

namespace modelfn {
namespace {

Outcome ProblemAnswer(const Status& status) {
  Problem p = ProblemFromStatus(status);
  Outcome o;
  o.status = p.status;
  o.content_type = std::string(kProblemContentType);
  o.body = p.ToJson();
  return o;
}

// The route of a bare request body, as for a Lambda direct invoke.
std::string BodyRoute(std::string_view body, const std::string& model_name) {
  auto doc = Json::Parse(body);
  if (!doc.ok() || !doc->is_object()) return "/v1/infer";
  if (doc->Find("items")) return "/v1/batch";
  const Json* inputs = doc->Find("inputs");
  if (inputs && inputs->is_array() && !inputs->AsArray().empty() &&
      inputs->AsArray()[0].is_object() && inputs->AsArray()[0].Find("datatype"))
    return "/v2/models/" + model_name + "/infer";
  return "/v1/infer";
}

// The problem code of an error answer's body, for a log line; "" when it has none.
std::string CodeOf(const Outcome& o) {
  auto doc = Json::Parse(o.body);
  if (!doc.ok() || !doc->is_object()) return "";
  const Json* code = doc->Find("code");
  return code != nullptr && code->is_string() ? code->AsString() : "";
}

const std::string kJson = "application/json";

}  // namespace

AzureFaceConfig AzureFaceConfig::FromEnv(const EnvFn& env) {
  AzureFaceConfig c;
  if (auto v = env("MODELFN_AZURE_INPUT_PREFIX")) c.input_prefix = *v;
  if (auto v = env("MODELFN_AZURE_OUTPUT_PREFIX")) c.output_prefix = *v;
  if (auto v = env("MODELFN_AZURE_FAILURE_PREFIX")) c.failure_prefix = *v;
  c.ReadLimitsFromEnv(env);
  if (auto v = env("MODELFN_AZURE_ROUTE_PREFIX")) c.route_prefix = *v;
  if (auto v = env("MODELFN_AZURE_OUTPUT_BINDING")) c.output_binding = *v;
  if (auto v = env("MODELFN_AZURE_HTTP_OUTPUT"); v && !v->empty()) c.http_output = *v;
  return c;
}

EnvFn AzureStoreEnv(const EnvFn& env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    auto v = env(name);
    if ((!v || v->empty()) && name == "AZURE_STORAGE_CONNECTION_STRING")
      return env("AzureWebJobsStorage");
    return v;
  };
}

AzureHandler::AzureHandler(FunctionCore* core, std::string model_name, AzureFaceConfig config,
                           BucketOpener open_container, const EventLog* log)
    : core_(core),
      model_name_(std::move(model_name)),
      config_(std::move(config)),
      open_container_(std::move(open_container)),
      log_(log) {}

bool AzureHandler::IsInvocation(std::string_view method, std::string_view path) const {
  return method == "POST" && IsInvocationPath(path, config_.route_prefix);
}

std::string AzureHandler::Route(std::string_view path) const {
  return ForwardedRoute(path, config_.route_prefix);
}

Outcome AzureHandler::Invoke(std::string_view function, std::string_view body) const {
  auto inv = ParseAzureInvocation(body);
  if (!inv.ok()) {
    EventLog::Line line = log_->Begin("azure_invocation", "warn");
    line.w().Key("function").String(function);
    line.w().Key("error").String(inv.status().reason());
    line.w().Key("detail").String(inv.status().message());
    log_->Emit(line);
    return ProblemAnswer(inv.status());
  }
  EventLog::Line line = log_->Begin("azure_invocation");
  JsonWriter& w = line.w();
  w.Key("function").String(function);
  w.Key("trigger").String(AzureTriggerName(inv->trigger));
  w.Key("binding").String(inv->binding);
  if (const Json* sys = inv->metadata.Find("sys"); sys != nullptr && sys->is_object()) {
    if (const Json* m = sys->Find("MethodName"); m != nullptr && m->is_string())
      w.Key("method_name").String(m->AsString());
  }
  Outcome o;
  switch (inv->trigger) {
    case AzureTrigger::kBlob:
      o = Blob(*inv, w);
      break;
    case AzureTrigger::kMessage:
      o = Message(*inv, w);
      break;
    case AzureTrigger::kHttp:
      o = Http(*inv, w);
      break;
  }
  w.Key("status").Int(o.status);
  log_->Emit(line);
  return o;
}

Outcome AzureHandler::Reply(AzureReply reply, const std::string& result) const {
  if (!config_.output_binding.empty() && config_.output_binding != "$return")
    reply.outputs.Set(config_.output_binding, Json::String(result));
  reply.return_value = result;
  Outcome o;
  o.body = reply.ToJson();
  return o;
}

Outcome AzureHandler::Blob(const AzureInvocation& inv, JsonWriter& line) const {
  auto blob = BlobOf(inv);
  if (!blob.ok()) return ProblemAnswer(blob.status());
  line.Key("container").String(blob->container).Key("name").String(blob->name);
  line.Key("etag").String(blob->etag);
  ObjectRef ref;
  ref.key = blob->name;
  ref.etag = blob->etag;
  ref.tag = blob->tag;
  ref.version = blob->etag;
  ObjectBatchSummary summary;
  AzureReply reply;
  if (ref.key.rfind(config_.input_prefix, 0) != 0) {
    summary.Add(ref.key, ObjectResult());  // skipped: not under the input prefix
    reply.logs.push_back("skipped " + ref.key + ": not under " + config_.input_prefix);
  } else {
    auto store = open_container_(blob->container);
    if (!store.ok())
      return ProblemAnswer(
          Status(StatusCode::kUnavailable,
                 "cannot open container " + blob->container + ": " + store.status().message(),
                 "store_unavailable"));
    ObjectResult r = InferStoredObject(**store, ref, config_, *core_,
                                       "azblob:" + blob->container + "/" + ref.key);
    switch (r.kind) {
      case ObjectResult::Kind::kProcessed:
        reply.logs.push_back("wrote " + r.written);
        break;
      case ObjectResult::Kind::kDuplicate:
        reply.logs.push_back("already answered: " + ref.key);
        break;
      case ObjectResult::Kind::kSkipped:
        reply.logs.push_back("skipped " + ref.key);
        break;
      case ObjectResult::Kind::kSuperseded:
        reply.logs.push_back("replaced since the event, not scored: " + ref.key);
        break;
      case ObjectResult::Kind::kFailed:
        reply.logs.push_back("failed " + ref.key + ": " + r.failure);
        break;
    }
    summary.Add(ref.key, r);
  }
  std::string result = summary.ToJson();
  if (summary.lost_failures())
    return ProblemAnswer(Status(StatusCode::kUnavailable,
                                "a failure could not be recorded in the container: " + result,
                                "store_unavailable"));
  return Reply(std::move(reply), result);
}

Outcome AzureHandler::Message(const AzureInvocation& inv, JsonWriter& line) const {
  std::string body = MessageOf(inv);
  std::string message_id;
  if (const Json* id = inv.metadata.Find("Id"); id != nullptr && id->is_string())
    message_id = id->AsString();
  line.Key("message_id").String(message_id).Key("message_bytes").Uint(body.size());
  if (const Json* n = inv.metadata.Find("DequeueCount"); n != nullptr && n->is_integral())
    line.Key("dequeue_count").Int(n->AsInt64());
  Invocation call;
  std::string path = BodyRoute(body, model_name_);
  call.method = "POST";
  call.path = path;
  call.body = body;
  call.content_type = &kJson;
  if (IsSafeRequestId(message_id)) call.request_id = &message_id;
  Outcome answer = core_->Handle(call);
  if (answer.status >= 500) return answer;  // the host retries the message
  AzureReply reply;
  if (answer.status >= 400)
    reply.logs.push_back("message " + message_id + " refused: " + std::to_string(answer.status) +
                         " " + CodeOf(answer));
  return Reply(std::move(reply), answer.body);
}

Outcome AzureHandler::Http(const AzureInvocation& inv, JsonWriter& line) const {
  auto req = HttpRequestOf(inv);
  if (!req.ok()) return ProblemAnswer(req.status());
  std::string path = Route(req->path);
  line.Key("method").String(req->method).Key("path").String(path);
  Invocation call;
  call.method = req->method;
  call.path = path;
  call.body = req->body;
  if (!req->content_type.empty()) call.content_type = &req->content_type;
  Outcome answer = core_->Handle(call);
  Json res = Json::MakeObject();
  res.Set("statusCode", Json::Int(answer.status));
  Json headers = Json::MakeObject();
  headers.Set("Content-Type", Json::String(answer.content_type));
  for (const auto& [k, v] : answer.headers) headers.Set(k, Json::String(v));
  res.Set("headers", std::move(headers));
  res.Set("body", Json::String(answer.body));
  AzureReply reply;
  reply.outputs.Set(config_.http_output, std::move(res));
  if (!config_.output_binding.empty() && config_.output_binding != "$return")
    reply.outputs.Set(config_.output_binding, Json::String(answer.body));
  reply.return_value = answer.body;
  Outcome o;
  o.body = reply.ToJson();
  return o;
}

}  // namespace modelfn
