#include "faces/aws/events.h"

#include "common/json.h"
#include "faces/aws/api_gateway.h"
#include "http/http_server.h"

namespace modelfn {
namespace {

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

}  // namespace

Invocation DecodedEvent::ToInvocation() const {
  Invocation inv;
  inv.method = method;
  inv.path = path;
  inv.query = query;
  inv.body = body;
  auto h = [&](const char* name) -> const std::string* {
    auto it = headers.find(name);
    return it == headers.end() ? nullptr : &it->second;
  };
  inv.content_type = h("content-type");
  inv.request_id = h("x-request-id");
  if (inv.request_id && !IsSafeRequestId(*inv.request_id)) inv.request_id = nullptr;  // generated
  inv.inference_header_length = h("inference-header-content-length");
  return inv;
}

StatusOr<DecodedEvent> DecodeEvent(std::string_view payload, const std::string& model_name) {
  auto doc = Json::Parse(payload);
  if (!doc.ok())
    return Status(StatusCode::kInvalidArgument, doc.status().message(), "invalid_json");
  DecodedEvent out;
  const Json& e = *doc;
  if (!e.is_object()) return Bad("the event is not a JSON object");
  if (auto format = aws::DetectApiEventFormat(e)) {
    auto request = aws::DecodeApiEvent(e, *format);
    if (!request.ok()) return request.status();
    out.kind = *format == aws::ApiEventFormat::kHttpV2 ? EventKind::kHttpV2 : EventKind::kHttpV1;
    out.method = std::move(request->method);
    out.path = std::move(request->path);
    out.query = std::move(request->query);
    out.body = std::move(request->body);
    // A repeated name keeps its last value, as a map of the event's object would.
    for (auto& [k, v] : request->headers) out.headers[k] = std::move(v);
    return out;
  }
  // Direct invoke: the payload is the request body itself.
  out.kind = EventKind::kDirect;
  out.method = "POST";
  out.headers["content-type"] = "application/json";
  out.body = std::string(payload);
  const Json* inputs = e.Find("inputs");
  if (e.Find("items")) {
    out.path = "/v1/batch";
  } else if (inputs && inputs->is_array() && !inputs->AsArray().empty() &&
             inputs->AsArray()[0].is_object() && inputs->AsArray()[0].Find("datatype")) {
    out.path = "/v2/models/" + model_name + "/infer";
  } else {
    out.path = "/v1/infer";
  }
  return out;
}

std::string EncodeHttpResponse(const DecodedEvent& event, const Outcome& outcome) {
  aws::ApiEventFormat format = event.kind == EventKind::kHttpV1 ? aws::ApiEventFormat::kRestV1
                                                                : aws::ApiEventFormat::kHttpV2;
  return aws::EncodeApiResponse(format, outcome.status, outcome.content_type, outcome.headers,
                                outcome.body);
}

}  // namespace modelfn
