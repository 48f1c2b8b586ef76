#include "faces/gcp/cloudevent.h"

#include <cctype>

#include "common/base64.h"
#include "common/json.h"

namespace modelfn {
namespace {

Status Problem(const std::string& code, const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, code);
}

const std::string* FindHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

// The media type without parameters, lowercased.
std::string MediaType(const std::string* content_type) {
  if (content_type == nullptr) return "";
  std::string t = content_type->substr(0, content_type->find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  for (char& c : t) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return t;
}

bool IsJsonMediaType(const std::string& type) {
  if (type.empty() || type == "application/json" || type == "text/json") return true;
  return type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0;
}

Status CheckRequired(const CloudEvent& e) {
  for (auto [name, value] : {std::pair{"specversion", &e.specversion}, std::pair{"id", &e.id},
                             std::pair{"source", &e.source}, std::pair{"type", &e.type}}) {
    if (value->empty()) {
      return Problem("missing_event_attribute",
                     std::string("the event has no ") + name +
                         (e.mode == CloudEvent::Mode::kBinary ? std::string(" (ce-") + name + ")"
                                                              : std::string()));
    }
  }
  if (e.specversion != "1.0")
    return Problem("unsupported_specversion",
                   "specversion '" + e.specversion + "' is not served (only 1.0)");
  return Status();
}

StatusOr<CloudEvent> ParseBinary(const HeaderList& headers, std::string_view body) {
  CloudEvent e;
  e.mode = CloudEvent::Mode::kBinary;
  for (const auto& [name, raw] : headers) {
    if (name.size() <= 3 || name.compare(0, 3, "ce-") != 0) continue;
    std::string attr = name.substr(3);
    std::string value = PercentDecode(raw);
    if (attr == "id") {
      e.id = std::move(value);
    } else if (attr == "source") {
      e.source = std::move(value);
    } else if (attr == "type") {
      e.type = std::move(value);
    } else if (attr == "specversion") {
      e.specversion = std::move(value);
    } else if (attr == "subject") {
      e.subject = std::move(value);
    } else if (attr == "time") {
      e.time = std::move(value);
    } else if (attr == "dataschema") {
      e.dataschema = std::move(value);
    } else if (attr == "datacontenttype") {
      // Content-Type carries it in this mode; a ce- field of that name is not an attribute.
      continue;
    } else {
      e.extensions.emplace(std::move(attr), std::move(value));
    }
  }
  if (const std::string* ct = FindHeader(headers, "content-type")) e.datacontenttype = *ct;
  e.data = std::string(body);
  e.has_data = !body.empty();
  RETURN_IF_ERROR(CheckRequired(e));
  return e;
}

StatusOr<CloudEvent> ParseStructured(std::string_view body) {
  auto doc = Json::Parse(body);
  if (!doc.ok()) return Problem("invalid_json", doc.status().message());
  if (!doc->is_object()) return Problem("invalid_cloudevent", "the event is not a JSON object");
  CloudEvent e;
  e.mode = CloudEvent::Mode::kStructured;
  const Json* data = nullptr;
  const Json* data_base64 = nullptr;
  for (const auto& [name, value] : doc->AsObject()) {
    if (name == "data") {
      data = &value;
      continue;
    }
    if (name == "data_base64") {
      data_base64 = &value;
      continue;
    }
    std::string* known = nullptr;
    if (name == "id") known = &e.id;
    if (name == "source") known = &e.source;
    if (name == "type") known = &e.type;
    if (name == "specversion") known = &e.specversion;
    if (name == "subject") known = &e.subject;
    if (name == "time") known = &e.time;
    if (name == "datacontenttype") known = &e.datacontenttype;
    if (name == "dataschema") known = &e.dataschema;
    if (known != nullptr) {
      if (!value.is_string())
        return Problem("invalid_cloudevent", "attribute '" + name + "' must be a string, not " +
                                                 Json::TypeName(value.type()));
      *known = value.AsString();
    } else if (value.is_string()) {
      e.extensions.emplace(name, value.AsString());
    } else if (value.is_number() || value.is_bool()) {
      e.extensions.emplace(name, value.Dump());
    } else if (!value.is_null()) {
      return Problem("invalid_cloudevent",
                     "extension attribute '" + name + "' must be a string, " + "number or boolean");
    }
  }
  RETURN_IF_ERROR(CheckRequired(e));
  if (data != nullptr && data_base64 != nullptr)
    return Problem("invalid_cloudevent", "the event has both data and data_base64");
  if (data_base64 != nullptr) {
    if (!data_base64->is_string())
      return Problem("invalid_base64", "data_base64 must be a base64 string");
    auto bytes = Base64Decode(data_base64->AsString());
    if (!bytes.ok()) return Problem("invalid_base64", "data_base64: " + bytes.status().message());
    e.data = std::move(bytes).value();
    e.has_data = true;
  } else if (data != nullptr && !data->is_null()) {
    e.has_data = true;
    if (data->is_string() && !IsJsonMediaType(MediaType(&e.datacontenttype))) {
      e.data = data->AsString();
    } else {
      e.data = data->Dump();
      e.data_is_json_text = true;
    }
  }
  return e;
}

}  // namespace

std::string PercentDecode(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size() &&
        isxdigit(static_cast<unsigned char>(value[i + 1])) &&
        isxdigit(static_cast<unsigned char>(value[i + 2]))) {
      auto hex = [](char c) {
        return isdigit(static_cast<unsigned char>(c))
                   ? c - '0'
                   : tolower(static_cast<unsigned char>(c)) - 'a' + 10;
      };
      out.push_back(static_cast<char>(hex(value[i + 1]) * 16 + hex(value[i + 2])));
      i += 2;
    } else {
      out.push_back(value[i]);
    }
  }
  return out;
}

bool LooksLikeCloudEvent(const HeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (name.size() > 3 && name.compare(0, 3, "ce-") == 0) return true;
  }
  std::string type = MediaType(FindHeader(headers, "content-type"));
  return type.rfind("application/cloudevents", 0) == 0;
}

StatusOr<CloudEvent> ParseCloudEvent(const HeaderList& headers, std::string_view body) {
  std::string type = MediaType(FindHeader(headers, "content-type"));
  if (type == "application/cloudevents-batch+json")
    return Problem("unsupported_media_type", "the CloudEvents batch content mode is not served");
  if (type.rfind("application/cloudevents", 0) == 0) {
    if (type != "application/cloudevents+json")
      return Problem("unsupported_media_type",
                     "structured events are served in JSON only (application/cloudevents+json)");
    return ParseStructured(body);
  }
  return ParseBinary(headers, body);
}

}  // namespace modelfn
