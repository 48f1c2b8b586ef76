#include "pool/forward.h"

#include <algorithm>

#include "common/base64.h"
#include "common/json.h"
#include "http/problem.h"

namespace modelfn {
namespace {

bool IsText(std::string_view content_type, std::string_view body) {
  if (body.empty()) return true;
  if (content_type.find("json") != std::string_view::npos || content_type.rfind("text/", 0) == 0) {
    return true;
  }
  return false;
}

}  // namespace

std::string BuildHttpApiEvent(const ForwardRequest& r, const std::string& request_id,
                              int64_t wall_ms) {
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
  std::vector<std::pair<std::string, std::string>> merged;
  for (const auto& [k, v] : r.headers) {
    if ((k == "content-type" && !r.content_type.empty()) ||
        (k == "x-request-id" && !r.request_id.empty())) {
      continue;
    }
    auto same = std::find_if(merged.begin(), merged.end(),
                             [&k = k](const auto& field) { return field.first == k; });
    if (same == merged.end()) {
      merged.emplace_back(k, v);
    } else {
      same->second += "," + v;
    }
  }
  std::string user_agent;
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
  w.Key("requestId").String(r.request_id.empty() ? request_id : r.request_id);
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

ForwardReply ParseHttpApiResponse(std::string_view payload) {
  ForwardReply reply;
  auto doc = Json::Parse(payload);
  // HTTP API 2.0: a payload that is not {"statusCode": ...} is itself a 200 JSON body.
  const Json* status = doc.ok() && doc->is_object() ? doc->Find("statusCode") : nullptr;
  if (status == nullptr || !status->is_integral()) {
    reply.body = std::string(payload);
    return reply;
  }
  // As API Gateway does with a malformed proxy response: a status that cannot be a final answer
  // (1xx would make the client expect another response on the connection) is the function's
  // error.
  if (!status->fits_int64() || status->AsInt64() < 200 || status->AsInt64() > 599) {
    Problem p = MakeProblem("function_error",
                            "the function answered an invalid statusCode " + status->Dump());
    reply.status = p.status;
    reply.content_type = std::string(kProblemContentType);
    reply.body = p.ToJson();
    return reply;
  }
  reply.status = static_cast<int>(status->AsInt64());
  reply.content_type.clear();
  if (const Json* h = doc->Find("headers"); h != nullptr && h->is_object()) {
    for (const auto& [k, v] : h->AsObject()) {
      std::string lk = k;
      std::transform(lk.begin(), lk.end(), lk.begin(), ::tolower);
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

}  // namespace modelfn
