// CloudEvents 1.0 over HTTP (the CloudEvents HTTP protocol binding), as Eventarc, Pub/Sub push
// through Eventarc, Knative Eventing and the CloudEvents SDKs deliver them.
//
// Binary content mode: the attributes are ce-* header fields (values percent-decoded), the body
// is the data and Content-Type is datacontenttype. Structured content mode: Content-Type
// application/cloudevents+json, the body a JSON object holding the attributes and the data as
// "data" (any JSON value) or "data_base64" (bytes). The batch mode
// (application/cloudevents-batch+json) is not served.
//
// Errors are InvalidArgument with a problem code as reason:
//   missing_event_attribute  id, source, type or specversion absent or empty;
//   unsupported_specversion  specversion other than "1.0";
//   invalid_json             structured mode whose body is not JSON;
//   invalid_cloudevent       structured mode whose body is not an object, an attribute of the
//                            wrong type, both data and data_base64;
//   invalid_base64           data_base64 that is not base64;
//   unsupported_media_type   the batch content mode.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace modelfn {

struct CloudEvent {
  // kLegacy: converted from Cloud Functions' own event format (legacy_event.h).
  enum class Mode { kBinary, kStructured, kLegacy };
  Mode mode = Mode::kBinary;
  // Required context attributes.
  std::string id;
  std::string source;
  std::string type;
  std::string specversion;
  // Optional ones; empty when absent.
  std::string subject;
  std::string time;
  std::string datacontenttype;
  std::string dataschema;
  // Extension attributes by name, as strings (a structured event's numbers and booleans are
  // written as JSON writes them).
  std::map<std::string, std::string> extensions;
  // The data: the body (binary mode), the decoded data_base64, or the "data" member's JSON text
  // (structured mode; a JSON string whose datacontenttype is not JSON is its text instead).
  std::string data;
  bool has_data = false;
  bool data_is_json_text = false;  // structured "data" written back as JSON text
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // names lowercased

// True when the request carries a CloudEvent (a ce-* header field or a cloudevents media type).
bool LooksLikeCloudEvent(const HeaderList& headers);

// Parses the event of one HTTP request.
StatusOr<CloudEvent> ParseCloudEvent(const HeaderList& headers, std::string_view body);

// Percent-decoding of a binary-mode header value (RFC 3986 %XX; a '%' not followed by two hex
// digits is kept as it is).
std::string PercentDecode(std::string_view value);

}  // namespace modelfn
