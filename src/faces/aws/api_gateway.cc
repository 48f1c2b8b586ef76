#include "faces/aws/api_gateway.h"

#include <algorithm>

#include "common/base64.h"

namespace modelfn::aws {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsText(std::string_view content_type, std::string_view body) {
  if (body.empty()) return true;
  return content_type.find("json") != std::string_view::npos || content_type.rfind("text/", 0) == 0;
}

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

Status ReadBody(const Json& event, std::string* out) {
  const Json* body = event.Find("body");
  if (body == nullptr || body->is_null()) return Status::Ok();
  if (!body->is_string()) return Bad("the event's body is not a string");
  const Json* b64 = event.Find("isBase64Encoded");
  if (b64 && b64->is_bool() && b64->AsBool()) {
    auto decoded = Base64Decode(body->AsString());
    if (!decoded.ok()) return Bad("the event's body is not valid base64");
    *out = std::move(decoded).value();
  } else {
    *out = body->AsString();
  }
  return Status::Ok();
}

void ReadHeaders(const Json* headers, HeaderList* out) {
  if (headers == nullptr || !headers->is_object()) return;
  for (const auto& [k, v] : headers->AsObject()) {
    if (v.is_string()) out->emplace_back(Lower(k), v.AsString());
  }
}

}  // namespace

std::string EncodeHttpApiEvent(const ApiRequestView& r, std::string_view fallback_request_id,
                               int64_t wall_ms) {
  static const HeaderList kNoHeaders;
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("version").String("2.0");
  w.Key("routeKey").String("$default");
  w.Key("rawPath").String(r.path);
  w.Key("rawQueryString").String(r.query);
  w.Key("headers").BeginObject();
  // Payload 2.0 joins repeated fields with commas: a key written twice would make the event a
  // document with a duplicate key, which the runtime refuses.
  std::vector<std::pair<std::string_view, std::string>> merged;
  for (const auto& [k, v] : r.headers ? *r.headers : kNoHeaders) {
    if ((k == "content-type" && !r.content_type.empty()) ||
        (k == "x-request-id" && !r.request_id.empty())) {
      continue;
    }
    auto same = std::find_if(merged.begin(), merged.end(),
                             [&k = k](const auto& field) { return field.first == k; });
    if (same == merged.end()) {
      merged.emplace_back(k, v);
    } else {
      same->second.append(",").append(v);
    }
  }
  std::string_view user_agent;
  for (const auto& [k, v] : merged) {
    w.Key(k).String(v);
    if (k == "user-agent") user_agent = v;
  }
  if (!r.content_type.empty()) w.Key("content-type").String(r.content_type);
  if (!r.request_id.empty()) w.Key("x-request-id").String(r.request_id);
  w.EndObject();
  w.Key("requestContext").BeginObject();
  w.Key("accountId").String("000000000000");
  w.Key("apiId").String("modelfn-local");
  w.Key("domainName").String("localhost");
  w.Key("http").BeginObject();
  w.Key("method").String(r.method);
  w.Key("path").String(r.path);
  w.Key("protocol").String("HTTP/1.1");
  w.Key("sourceIp").String(r.source_ip.empty() ? "127.0.0.1" : r.source_ip);
  w.Key("userAgent").String(user_agent);
  w.EndObject();
  w.Key("requestId").String(r.request_id.empty() ? fallback_request_id : r.request_id);
  w.Key("routeKey").String("$default");
  w.Key("stage").String("$default");
  w.Key("timeEpoch").Int(wall_ms);
  w.EndObject();
  bool text = IsText(r.content_type, r.body);
  w.Key("body").String(text ? r.body : Base64Encode(r.body));
  w.Key("isBase64Encoded").Bool(!text);
  w.EndObject();
  return out;
}

StatusOr<ApiResponse> DecodeHttpApiResponse(std::string_view payload) {
  ApiResponse reply;
  auto doc = Json::Parse(payload);
  const Json* status = doc.ok() && doc->is_object() ? doc->Find("statusCode") : nullptr;
  if (status == nullptr || !status->is_integral()) {
    reply.body = std::string(payload);
    return reply;
  }
  if (!status->fits_int64() || status->AsInt64() < 200 || status->AsInt64() > 599) {
    return Status(StatusCode::kInvalidArgument,
                  "the function answered an invalid statusCode " + status->Dump(),
                  "function_error");
  }
  reply.status = static_cast<int>(status->AsInt64());
  reply.content_type.clear();
  if (const Json* h = doc->Find("headers"); h != nullptr && h->is_object()) {
    for (const auto& [k, v] : h->AsObject()) {
      std::string lk = Lower(k);
      std::string val = v.is_string() ? v.AsString() : v.Dump();
      if (lk == "content-type") {
        reply.content_type = val;
      } else if (lk != "content-length" && lk != "connection" && lk != "date" && lk != "server") {
        reply.headers.emplace_back(k, val);
      }
    }
  }
  if (reply.content_type.empty()) reply.content_type = "application/json";
  const Json* body = doc->Find("body");
  std::string text = body != nullptr && body->is_string() ? body->AsString() : "";
  const Json* b64 = doc->Find("isBase64Encoded");
  if (b64 != nullptr && b64->is_bool() && b64->AsBool()) {
    auto bin = Base64Decode(text);
    text = bin.ok() ? *bin : "";
  }
  reply.body = std::move(text);
  return reply;
}

std::optional<ApiEventFormat> DetectApiEventFormat(const Json& e) {
  if (!e.is_object()) return std::nullopt;
  const Json* version = e.Find("version");
  const Json* rc = e.Find("requestContext");
  const Json* http = rc ? rc->Find("http") : nullptr;
  if (version && version->is_string() && version->AsString() == "2.0" && http) {
    return ApiEventFormat::kHttpV2;
  }
  if (const Json* method = e.Find("httpMethod"); method && method->is_string()) {
    return ApiEventFormat::kRestV1;
  }
  return std::nullopt;
}

StatusOr<ApiRequest> DecodeApiEvent(const Json& e, ApiEventFormat format) {
  ApiRequest out;
  if (!e.is_object()) return Bad("the event is not a JSON object");
  if (format == ApiEventFormat::kHttpV2) {
    const Json* rc = e.Find("requestContext");
    const Json* http = rc ? rc->Find("http") : nullptr;
    const Json* method = http ? http->Find("method") : nullptr;
    if (!method || !method->is_string()) return Bad("requestContext.http.method is missing");
    out.method = method->AsString();
    const Json* path = e.Find("rawPath");
    out.path = path && path->is_string() ? path->AsString() : "/";
    if (const Json* q = e.Find("rawQueryString"); q && q->is_string()) out.query = q->AsString();
    if (const Json* ip = http->Find("sourceIp"); ip && ip->is_string()) {
      out.source_ip = ip->AsString();
    }
  } else {
    const Json* method = e.Find("httpMethod");
    if (!method || !method->is_string()) return Bad("httpMethod is missing");
    out.method = method->AsString();
    const Json* path = e.Find("path");
    out.path = path && path->is_string() ? path->AsString() : "/";
    if (const Json* q = e.Find("queryStringParameters"); q && q->is_object()) {
      for (const auto& [k, v] : q->AsObject()) {
        if (v.is_string()) out.query += (out.query.empty() ? "" : "&") + k + "=" + v.AsString();
      }
    }
  }
  ReadHeaders(e.Find("headers"), &out.headers);
  RETURN_IF_ERROR(ReadBody(e, &out.body));
  return out;
}

std::string EncodeApiResponse(ApiEventFormat format, int status, std::string_view content_type,
                              const HeaderList& headers, std::string_view body) {
  std::string out;
  JsonWriter w(&out);
  bool binary = content_type.rfind("application/octet-stream", 0) == 0;
  w.BeginObject();
  w.Key("statusCode").Int(status);
  w.Key("headers").BeginObject();
  w.Key("Content-Type").String(content_type);
  for (const auto& [k, v] : headers) w.Key(k).String(v);
  w.EndObject();
  if (format == ApiEventFormat::kRestV1) {
    w.Key("multiValueHeaders").BeginObject().EndObject();
  }
  w.Key("body").String(binary ? Base64Encode(body) : body);
  w.Key("isBase64Encoded").Bool(binary);
  w.EndObject();
  return out;
}

}  // namespace modelfn::aws
