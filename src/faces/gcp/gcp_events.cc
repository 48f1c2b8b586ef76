#include "faces/gcp/gcp_events.h"

#include "common/base64.h"
#include "common/json.h"
#include "common/sha256.h"
#include "faces/gcp/legacy_event.h"
#include "http/http_server.h"
#include "http/problem.h"

namespace modelfn {
namespace {

Status BadData(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_event_data");
}

// The event's data as a JSON object (both Google event types carry one).
StatusOr<Json> DataObject(const CloudEvent& event) {
  if (!event.has_data) return BadData("the event has no data");
  auto doc = Json::Parse(event.data);
  if (!doc.ok())
    return Status(StatusCode::kInvalidArgument, "event data: " + doc.status().message(),
                  "invalid_json");
  if (!doc->is_object()) return BadData("the event data is not a JSON object");
  return doc;
}

const std::string* StringMember(const Json& obj, std::string_view name) {
  const Json* v = obj.Find(name);
  return v != nullptr && v->is_string() ? &v->AsString() : nullptr;
}

// The route of a bare request body, as for a Lambda direct invoke.
std::string RouteOf(std::string_view body, const std::string& model_name) {
  auto doc = Json::Parse(body);
  if (!doc.ok() || !doc->is_object()) return "/v1/infer";
  if (doc->Find("items")) return "/v1/batch";
  const Json* inputs = doc->Find("inputs");
  if (inputs && inputs->is_array() && !inputs->AsArray().empty() &&
      inputs->AsArray()[0].is_object() && inputs->AsArray()[0].Find("datatype"))
    return "/v2/models/" + model_name + "/infer";
  return "/v1/infer";
}

}  // namespace

bool IsPushEnvelope(const Json& body) {
  const Json* message = body.Find("message");
  const Json* subscription = body.Find("subscription");
  return message != nullptr && message->is_object() && subscription != nullptr &&
         subscription->is_string();
}

Outcome ProblemOutcome(const Status& status) {
  Problem p = ProblemFromStatus(status);
  Outcome o;
  o.status = p.status;
  o.content_type = std::string(kProblemContentType);
  o.body = p.ToJson();
  return o;
}

GcpEventConfig GcpEventConfig::FromEnv(const EnvFn& env) {
  GcpEventConfig c;
  if (auto v = env("MODELFN_GCS_INPUT_PREFIX")) c.input_prefix = *v;
  if (auto v = env("MODELFN_GCS_OUTPUT_PREFIX")) c.output_prefix = *v;
  if (auto v = env("MODELFN_GCS_FAILURE_PREFIX")) c.failure_prefix = *v;
  c.ReadLimitsFromEnv(env);
  return c;
}

GcpEventHandler::GcpEventHandler(FunctionCore* core, std::string model_name, GcpEventConfig config,
                                 BucketOpener open_bucket, const EventLog* log)
    : core_(core),
      model_name_(std::move(model_name)),
      config_(std::move(config)),
      open_bucket_(std::move(open_bucket)),
      log_(log) {}

Outcome GcpEventHandler::Handle(const HeaderList& headers, std::string_view body) const {
  StatusOr<CloudEvent> event = Status(StatusCode::kInvalidArgument, "", "");
  bool legacy = false;
  if (!LooksLikeCloudEvent(headers)) {
    auto doc = Json::Parse(body);
    if (doc.ok() && IsPushEnvelope(*doc)) {
      EventLog::Line line = log_->Begin("pubsub_push");
      Outcome o = InferMessage(*doc, line.w());
      line.w().Key("status").Int(o.status);
      log_->Emit(line);
      return o;
    }
    if (doc.ok() && IsLegacyEvent(*doc)) {
      event = LegacyToCloudEvent(*doc);
      legacy = true;
    }
  }
  if (!legacy) event = ParseCloudEvent(headers, body);
  if (!event.ok()) {
    EventLog::Line line = log_->Begin("cloudevent", "warn");
    line.w().Key("error").String(event.status().reason());
    line.w().Key("detail").String(event.status().message());
    log_->Emit(line);
    return ProblemOutcome(event.status());
  }
  const CloudEvent& e = *event;
  EventLog::Line line = log_->Begin("cloudevent");
  JsonWriter& w = line.w();
  w.Key("mode").String(e.mode == CloudEvent::Mode::kBinary       ? "binary"
                       : e.mode == CloudEvent::Mode::kStructured ? "structured"
                                                                 : "legacy");
  w.Key("id").String(e.id).Key("source").String(e.source).Key("type").String(e.type);
  w.Key("specversion").String(e.specversion);
  if (!e.subject.empty()) w.Key("subject").String(e.subject);
  if (!e.time.empty()) w.Key("time").String(e.time);
  if (!e.datacontenttype.empty()) w.Key("datacontenttype").String(e.datacontenttype);
  if (!e.dataschema.empty()) w.Key("dataschema").String(e.dataschema);
  w.Key("extensions").BeginObject();
  for (const auto& [k, v] : e.extensions) w.Key(k).String(v);
  w.EndObject();
  w.Key("data_bytes").Uint(e.data.size());
  Outcome o;
  if (e.type == kStorageFinalized) {
    o = HandleStorage(e, w);
  } else if (e.type == kPubSubPublished) {
    o = HandlePubSub(e, w);
  } else {
    o = ProblemOutcome(Status(StatusCode::kInvalidArgument,
                              "event type '" + e.type + "' is not served (" +
                                  std::string(kStorageFinalized) + ", " +
                                  std::string(kPubSubPublished) + ")",
                              "unsupported_event_type"));
  }
  w.Key("status").Int(o.status);
  log_->Emit(line);
  return o;
}

Outcome GcpEventHandler::HandleStorage(const CloudEvent& event, JsonWriter& line) const {
  auto data = DataObject(event);
  if (!data.ok()) return ProblemOutcome(data.status());
  const std::string* bucket = StringMember(*data, "bucket");
  const std::string* name = StringMember(*data, "name");
  if (bucket == nullptr || bucket->empty() || name == nullptr || name->empty())
    return ProblemOutcome(BadData("storage event data needs \"bucket\" and \"name\" strings"));
  ObjectRef ref;
  ref.key = *name;
  if (const std::string* etag = StringMember(*data, "etag")) ref.etag = *etag;
  // The generation names one version of an object: a rewrite gets a new answer, a redelivery
  // of the same version finds its answer written. Cloud Storage's are digits; a folder's
  // (modelfn up's folder triggers) "inode-size-mtime": letters, digits and '-' only, so it is
  // safe in a name.
  if (const std::string* gen = StringMember(*data, "generation");
      gen != nullptr && !gen->empty() && gen->size() <= 64 &&
      gen->find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") ==
          std::string::npos) {
    ref.tag = *gen;
    ref.version = *gen;
  }
  line.Key("bucket").String(*bucket).Key("name").String(*name).Key("generation").String(ref.tag);
  ObjectBatchSummary summary;
  if (ref.key.rfind(config_.input_prefix, 0) != 0) {
    summary.Add(ref.key, ObjectResult());  // skipped: not under the input prefix
  } else {
    auto store = open_bucket_(*bucket);
    if (!store.ok())
      return ProblemOutcome(Status(
          StatusCode::kUnavailable,
          "cannot open bucket " + *bucket + ": " + store.status().message(), "store_unavailable"));
    summary.Add(ref.key,
                InferStoredObject(**store, ref, config_, *core_, "gcs:" + *bucket + "/" + ref.key));
  }
  Outcome o;
  o.body = summary.ToJson();
  if (summary.lost_failures()) {
    o = ProblemOutcome(Status(StatusCode::kUnavailable,
                              "a failure could not be recorded in the bucket: " + o.body,
                              "store_unavailable"));
  }
  return o;
}

Outcome GcpEventHandler::HandlePubSub(const CloudEvent& event, JsonWriter& line) const {
  auto data = DataObject(event);
  if (!data.ok()) return ProblemOutcome(data.status());
  return InferMessage(*data, line);
}

Outcome GcpEventHandler::InferMessage(const Json& envelope, JsonWriter& line) const {
  const Json* data = &envelope;
  const Json* message = data->Find("message");
  if (message == nullptr || !message->is_object())
    return ProblemOutcome(BadData("Pub/Sub data needs a \"message\" object"));
  std::string body;
  if (const Json* d = message->Find("data"); d != nullptr && !d->is_null()) {
    if (!d->is_string())
      return ProblemOutcome(BadData("Pub/Sub message data must be a base64 string"));
    auto decoded = Base64Decode(d->AsString());
    if (!decoded.ok())
      return ProblemOutcome(Status(StatusCode::kInvalidArgument,
                                   "Pub/Sub message data: " + decoded.status().message(),
                                   "invalid_base64"));
    body = std::move(decoded).value();
  }
  std::string message_id;
  if (const std::string* id = StringMember(*message, "messageId")) message_id = *id;
  line.Key("message_id").String(message_id);
  if (const std::string* t = StringMember(*message, "publishTime"))
    line.Key("publish_time").String(*t);
  if (const std::string* s = StringMember(*data, "subscription"))
    line.Key("subscription").String(*s);
  line.Key("attributes").BeginObject();
  if (const Json* attrs = message->Find("attributes"); attrs != nullptr && attrs->is_object()) {
    for (const auto& [k, v] : attrs->AsObject()) {
      if (v.is_string()) line.Key(k).String(v.AsString());
    }
  }
  line.EndObject();
  line.Key("message_bytes").Uint(body.size()).Key("message_sha256").String(Sha256Hex(body));
  std::string path = RouteOf(body, model_name_);
  static const std::string kJson = "application/json";
  Invocation inv;
  inv.method = "POST";
  inv.path = path;
  inv.body = body;
  inv.content_type = &kJson;
  if (IsSafeRequestId(message_id)) inv.request_id = &message_id;
  return core_->Handle(inv);
}

}  // namespace modelfn
