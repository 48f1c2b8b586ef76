#include "faces/gcp/legacy_event.h"

#include <string>
#include <string_view>

namespace modelfn {
namespace {

Status Missing(const std::string& what) {
  return Status(StatusCode::kInvalidArgument, "the legacy event has no " + what,
                "missing_event_attribute");
}

// The string member `name` of `obj` (nullptr when obj is null, not an object, or the member is
// absent or not a string).
const std::string* StringAt(const Json* obj, std::string_view name) {
  if (obj == nullptr || !obj->is_object()) return nullptr;
  const Json* v = obj->Find(name);
  return v != nullptr && v->is_string() ? &v->AsString() : nullptr;
}

// The first of the context's and the body's string members `name`.
const std::string* Field(const Json* context, const Json& body, std::string_view name) {
  if (const std::string* v = StringAt(context, name)) return v;
  return StringAt(&body, name);
}

// The service of an event type that names none, by the event type's prefix.
std::string ServiceOf(std::string_view event_type) {
  static const std::pair<std::string_view, std::string_view> kPrefixes[] = {
      {"providers/cloud.firestore/", "firestore.googleapis.com"},
      {"providers/google.firebase.analytics/", "firebaseanalytics.googleapis.com"},
      {"providers/firebase.auth/", "firebaseauth.googleapis.com"},
      {"providers/google.firebase.database/", "firebasedatabase.googleapis.com"},
      {"providers/cloud.pubsub/", "pubsub.googleapis.com"},
      {"providers/cloud.storage/", "storage.googleapis.com"},
  };
  for (const auto& [prefix, service] : kPrefixes) {
    if (event_type.rfind(prefix, 0) == 0) return std::string(service);
  }
  return "";
}

// The CloudEvent type of a legacy event type this face serves ("" for any other).
std::string_view CloudEventType(std::string_view event_type) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {"google.pubsub.topic.publish", "google.cloud.pubsub.topic.v1.messagePublished"},
      {"providers/cloud.pubsub/eventTypes/topic.publish",
       "google.cloud.pubsub.topic.v1.messagePublished"},
      {"google.storage.object.finalize", "google.cloud.storage.object.v1.finalized"},
      {"google.storage.object.delete", "google.cloud.storage.object.v1.deleted"},
      {"google.storage.object.archive", "google.cloud.storage.object.v1.archived"},
      {"google.storage.object.metadataUpdate", "google.cloud.storage.object.v1.metadataUpdated"},
  };
  for (const auto& [legacy, type] : kTypes) {
    if (event_type == legacy) return type;
  }
  return "";
}

}  // namespace

bool IsLegacyEvent(const Json& body) {
  if (!body.is_object() || body.Find("data") == nullptr) return false;
  return Field(body.Find("context"), body, "eventType") != nullptr;
}

StatusOr<CloudEvent> LegacyToCloudEvent(const Json& body) {
  if (!body.is_object()) return Missing("event type");
  const Json* context = body.Find("context");
  if (context != nullptr && !context->is_object()) context = nullptr;
  const std::string* event_type = Field(context, body, "eventType");
  if (event_type == nullptr || event_type->empty()) return Missing("event type");
  std::string_view type = CloudEventType(*event_type);
  if (type.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "legacy event type '" + *event_type +
                      "' is not served (google.storage.object.*, google.pubsub.topic.publish)",
                  "unsupported_event_type");
  }
  const std::string* id = Field(context, body, "eventId");
  if (id == nullptr || id->empty()) return Missing("event id");
  // The resource: an object {service, name, type} in the context, or a name.
  std::string service, name;
  const Json* resource = context != nullptr ? context->Find("resource") : nullptr;
  if (resource == nullptr) resource = body.Find("resource");
  if (resource != nullptr && resource->is_object()) {
    if (const std::string* s = StringAt(resource, "service")) service = *s;
    if (const std::string* n = StringAt(resource, "name")) name = *n;
  } else if (resource != nullptr && resource->is_string()) {
    name = resource->AsString();
  }
  if (name.empty()) return Missing("resource name");
  if (service.empty()) service = ServiceOf(*event_type);
  if (service.empty()) {
    // The served types name their own service.
    service = type.find(".storage.") != std::string_view::npos ? "storage.googleapis.com"
                                                               : "pubsub.googleapis.com";
  }
  const Json* data = body.Find("data");
  if (data == nullptr) return Missing("data");

  CloudEvent e;
  e.mode = CloudEvent::Mode::kLegacy;
  e.id = *id;
  e.type = std::string(type);
  e.specversion = "1.0";
  e.datacontenttype = "application/json";
  if (const std::string* t = Field(context, body, "timestamp")) e.time = *t;
  e.source = "//" + service + "/" + name;
  if (service == "storage.googleapis.com") {
    // projects/_/buckets/BUCKET/objects/NAME[#GENERATION]: the object goes to the subject.
    size_t objects = name.find("/objects/");
    if (objects != std::string::npos) {
      std::string object = name.substr(objects + 1);
      if (size_t hash = object.rfind('#'); hash != std::string::npos) object.resize(hash);
      e.source = "//" + service + "/" + name.substr(0, objects);
      e.subject = std::move(object);
    }
  }
  if (e.type == "google.cloud.pubsub.topic.v1.messagePublished") {
    // {"message": DATA + messageId + publishTime}; DATA's other members as they came.
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("message").BeginObject();
    if (data->is_object()) {
      for (const auto& [k, v] : data->AsObject()) {
        if (k != "messageId" && k != "publishTime") w.Key(k).Value(v);
      }
    }
    w.Key("messageId").String(e.id);
    if (!e.time.empty()) w.Key("publishTime").String(e.time);
    w.EndObject().EndObject();
    e.data = std::move(out);
  } else {
    e.data = data->Dump();
  }
  e.has_data = true;
  e.data_is_json_text = true;
  return e;
}

}  // namespace modelfn
