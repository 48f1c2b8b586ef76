#include "function/events.h"

#include "common/json.h"
#include "http/http_server.h"

namespace modelfn {
namespace {

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

Status ReadBody(const Json& event, DecodedEvent* out) {
  const Json* body = event.Find("body");
  if (body == nullptr || body->is_null()) return Status::Ok();
  if (!body->is_string()) return Bad("the event's body is not a string");
  const Json* b64 = event.Find("isBase64Encoded");
  if (b64 && b64->is_bool() && b64->AsBool()) {
    auto decoded = Base64Decode(body->AsString());
    if (!decoded.ok()) return Bad("the event's body is not valid base64");
    out->body = std::move(decoded).value();
  } else {
    out->body = body->AsString();
  }
  return Status::Ok();
}

void ReadHeaders(const Json* headers, DecodedEvent* out) {
  if (headers == nullptr || !headers->is_object()) return;
  for (const auto& [k, v] : headers->AsObject()) {
    if (v.is_string()) out->headers[Lower(k)] = v.AsString();
  }
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
  const Json* version = e.Find("version");
  const Json* rc = e.Find("requestContext");
  const Json* http = rc ? rc->Find("http") : nullptr;
  if (version && version->is_string() && version->AsString() == "2.0" && http) {
    out.kind = EventKind::kHttpV2;
    const Json* method = http->Find("method");
    const Json* path = e.Find("rawPath");
    if (!method || !method->is_string()) return Bad("requestContext.http.method is missing");
    out.method = method->AsString();
    out.path = path && path->is_string() ? path->AsString() : "/";
    if (const Json* q = e.Find("rawQueryString"); q && q->is_string()) out.query = q->AsString();
    ReadHeaders(e.Find("headers"), &out);
    RETURN_IF_ERROR(ReadBody(e, &out));
    return out;
  }
  if (const Json* method = e.Find("httpMethod"); method && method->is_string()) {
    out.kind = EventKind::kHttpV1;
    out.method = method->AsString();
    const Json* path = e.Find("path");
    out.path = path && path->is_string() ? path->AsString() : "/";
    ReadHeaders(e.Find("headers"), &out);
    if (const Json* q = e.Find("queryStringParameters"); q && q->is_object()) {
      for (const auto& [k, v] : q->AsObject()) {
        if (v.is_string()) out.query += (out.query.empty() ? "" : "&") + k + "=" + v.AsString();
      }
    }
    RETURN_IF_ERROR(ReadBody(e, &out));
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
  std::string out;
  JsonWriter w(&out);
  bool binary = outcome.content_type.rfind("application/octet-stream", 0) == 0;
  w.BeginObject();
  w.Key("statusCode").Int(outcome.status);
  w.Key("headers").BeginObject();
  w.Key("Content-Type").String(outcome.content_type);
  for (const auto& [k, v] : outcome.headers) w.Key(k).String(v);
  w.EndObject();
  if (event.kind == EventKind::kHttpV1) {
    w.Key("multiValueHeaders").BeginObject().EndObject();
  }
  w.Key("body").String(binary ? Base64Encode(outcome.body) : outcome.body);
  w.Key("isBase64Encoded").Bool(binary);
  w.EndObject();
  return out;
}

}  // namespace modelfn
