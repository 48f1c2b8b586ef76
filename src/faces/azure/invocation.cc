#include "faces/azure/invocation.h"

#include <cctype>

namespace modelfn {
namespace {

Status Invalid(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_invocation");
}

const std::string* StringMember(const Json& obj, std::string_view name) {
  const Json* v = obj.Find(name);
  return v != nullptr && v->is_string() ? &v->AsString() : nullptr;
}

bool IsHttpRequest(const Json& v) {
  return v.is_object() && StringMember(v, "Method") != nullptr && StringMember(v, "Url") != nullptr;
}

// The path of an absolute URL ("http://host:7071/api/order?x=1" -> "/api/order").
std::string UrlPath(const std::string& url) {
  size_t start = 0;
  if (size_t scheme = url.find("://"); scheme != std::string::npos) {
    start = url.find('/', scheme + 3);
    if (start == std::string::npos) return "/";
  }
  size_t end = url.find_first_of("?#", start);
  std::string path = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  return path.empty() || path[0] != '/' ? "/" + path : path;
}

}  // namespace

const char* AzureTriggerName(AzureTrigger trigger) {
  switch (trigger) {
    case AzureTrigger::kBlob:
      return "blob";
    case AzureTrigger::kHttp:
      return "http";
    case AzureTrigger::kMessage:
      return "message";
  }
  return "message";
}

StatusOr<AzureInvocation> ParseAzureInvocation(std::string_view body) {
  auto doc = Json::Parse(body);
  if (!doc.ok())
    return Status(StatusCode::kInvalidArgument, "invocation payload: " + doc.status().message(),
                  "invalid_json");
  if (!doc->is_object()) return Invalid("the invocation payload is not a JSON object");
  const Json* data = doc->Find("Data");
  if (data == nullptr) return Invalid("the invocation payload has no \"Data\"");
  if (!data->is_object()) return Invalid("\"Data\" is not an object");
  if (data->AsObject().empty()) return Invalid("\"Data\" names no trigger binding");
  const Json* metadata = doc->Find("Metadata");
  if (metadata != nullptr && !metadata->is_null() && !metadata->is_object())
    return Invalid("\"Metadata\" is not an object");
  AzureInvocation inv;
  inv.data = data->Clone();
  inv.metadata =
      metadata != nullptr && metadata->is_object() ? metadata->Clone() : Json::MakeObject();

  if (inv.metadata.Find("BlobTrigger") != nullptr) {
    inv.trigger = AzureTrigger::kBlob;
    inv.binding = inv.data.AsObject().begin()->first;
    return inv;
  }
  for (const auto& [name, value] : inv.data.AsObject()) {
    if (IsHttpRequest(value)) {
      inv.trigger = AzureTrigger::kHttp;
      inv.binding = name;
      return inv;
    }
  }
  if (inv.data.AsObject().size() != 1) {
    std::string names;
    for (const auto& [name, value] : inv.data.AsObject())
      names += (names.empty() ? "" : ", ") + name;
    return Status(StatusCode::kInvalidArgument,
                  "cannot tell the trigger among several \"Data\" members (" + names +
                      "): blob and message triggers carry one, HTTP triggers a request object",
                  "unsupported_trigger");
  }
  inv.trigger = AzureTrigger::kMessage;
  inv.binding = inv.data.AsObject().begin()->first;
  return inv;
}

StatusOr<AzureBlob> BlobOf(const AzureInvocation& inv) {
  const std::string* path = StringMember(inv.metadata, "BlobTrigger");
  if (path == nullptr) return Invalid("\"Metadata.BlobTrigger\" is not a string");
  size_t slash = path->find('/');
  if (slash == 0 || slash == std::string::npos || slash + 1 == path->size())
    return Invalid("\"Metadata.BlobTrigger\" is not \"container/name\": '" + *path + "'");
  AzureBlob blob;
  blob.container = path->substr(0, slash);
  blob.name = path->substr(slash + 1);
  if (const Json* props = inv.metadata.Find("Properties"); props != nullptr && props->is_object()) {
    const std::string* etag = StringMember(*props, "ETag");
    if (etag == nullptr) etag = StringMember(*props, "Etag");
    if (etag != nullptr) {
      blob.etag = *etag;
      for (char c : *etag) {
        if (std::isalnum(static_cast<unsigned char>(c))) blob.tag += c;
      }
    }
  }
  return blob;
}

std::string MessageOf(const AzureInvocation& inv) {
  const Json* v = inv.data.Find(inv.binding);
  if (v == nullptr) return "";
  return v->is_string() ? v->AsString() : v->Dump();
}

StatusOr<AzureHttpRequest> HttpRequestOf(const AzureInvocation& inv) {
  const Json* req = inv.data.Find(inv.binding);
  if (req == nullptr || !IsHttpRequest(*req))
    return Invalid("\"Data." + inv.binding + "\" is not an HTTP request");
  AzureHttpRequest r;
  r.method = *StringMember(*req, "Method");
  r.path = UrlPath(*StringMember(*req, "Url"));
  if (const Json* b = req->Find("Body"); b != nullptr && !b->is_null())
    r.body = b->is_string() ? b->AsString() : b->Dump();
  if (const Json* headers = req->Find("Headers"); headers != nullptr && headers->is_object()) {
    for (const auto& [k, v] : headers->AsObject()) {
      if (k.size() != 12) continue;
      std::string lower;
      for (char c : k) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower != "content-type") continue;
      if (v.is_string()) r.content_type = v.AsString();
      if (v.is_array() && !v.AsArray().empty() && v.AsArray()[0].is_string())
        r.content_type = v.AsArray()[0].AsString();
    }
  }
  return r;
}

std::string AzureReply::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("Outputs").Value(outputs);
  w.Key("Logs").BeginArray();
  for (const auto& l : logs) w.String(l);
  w.EndArray();
  w.Key("ReturnValue");
  if (return_value) {
    w.String(*return_value);
  } else {
    w.Null();
  }
  w.EndObject();
  return out;
}

std::string ForwardedRoute(std::string_view path, std::string_view route_prefix) {
  if (route_prefix.empty()) return std::string(path);
  std::string prefix = "/" + std::string(route_prefix);
  if (path.rfind(prefix, 0) != 0) return std::string(path);
  std::string_view rest = path.substr(prefix.size());
  if (!rest.empty() && rest[0] != '/') return std::string(path);  // /apix is not under /api
  if (rest.empty() || rest == "/") return "/";
  if (rest == "/infer" || rest == "/batch" || rest == "/health" || rest == "/models")
    return "/v1" + std::string(rest);
  return std::string(rest);
}

bool IsInvocationPath(std::string_view path, std::string_view route_prefix) {
  if (path.size() < 2 || path[0] != '/') return false;
  std::string_view name = path.substr(1);
  if (name.find('/') != std::string_view::npos) return false;
  return name != "v1" && name != "v2" && name != route_prefix;
}

}  // namespace modelfn
