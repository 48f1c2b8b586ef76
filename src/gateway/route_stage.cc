#include "gateway/route_stage.h"

#include <optional>

#include "common/json.h"
#include "gateway/answers.h"

namespace modelfn::gateway {
namespace {

// "/a/b/c" -> {"a", "b", "c"}; views into `path`.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string QueryParam(std::string_view query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    std::string_view kv = query.substr(pos, end - pos);
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name)
      return eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    pos = end + 1;
  }
  return "";
}

// %XX escapes decoded (clients escape ':' and '$' in a function name or ARN); nullopt for a
// malformed escape or a decoded byte that is not visible ASCII.
std::optional<std::string> DecodeSegment(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 1 < s.size() ? hex(s[i + 1]) : -1, lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c < 0x21 || c > 0x7e) return std::nullopt;
    out.push_back(c);
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

FunctionRoute* RouteStage::Find(std::string_view name) const {
  for (auto& f : *functions_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Status RouteStage::Unknown(std::string_view name) const {
  std::string names;
  for (const auto& f : *functions_) names += (names.empty() ? "" : ", ") + f.name;
  return Status(StatusCode::kNotFound,
                "no function named '" + std::string(name) + "' (functions: " + names + ")",
                "not_found");
}

Status RouteStage::Resolve(Exchange& ex) const {
  const HttpRequest& req = ex.request;
  std::vector<std::string_view> seg = SplitPath(req.path);
  // Lambda's Invoke API: /2015-03-31/functions/{name, name:$LATEST or its ARN}/invocations.
  if (seg.size() == 4 && seg[0] == "2015-03-31" && seg[1] == "functions" &&
      seg[3] == "invocations") {
    std::optional<std::string> decoded = DecodeSegment(seg[2]);
    if (!decoded) return Status(StatusCode::kNotFound, "no route " + req.path, "not_found");
    std::string_view name = *decoded;
    if (name.rfind("arn:", 0) == 0) {  // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
      size_t at = name.find(":function:");
      name = at == std::string_view::npos ? "" : name.substr(at + 10);
    }
    if (size_t colon = name.find(':'); colon != std::string_view::npos) {
      if (name.substr(colon + 1) != "$LATEST") {
        return Status(StatusCode::kNotFound,
                      "qualifier '" + std::string(name.substr(colon + 1)) +
                          "': modelfn up serves $LATEST (versions are chosen by traffic:)",
                      "not_found");
      }
      name = name.substr(0, colon);
    }
    ex.function = Find(name);
    if (ex.function == nullptr) return Unknown(name);
    if (!ex.function->lambda_mode) {
      return Status(StatusCode::kInvalidArgument,
                    "function " + ex.function->name +
                        " runs in http mode: the Invoke API takes Lambda events (use "
                        "/v1/models/{name}/infer)",
                    "invalid_request");
    }
    const std::string* type = req.Header("x-amz-invocation-type");
    ex.invocation_type = type == nullptr ? "RequestResponse" : *type;
    if (ex.invocation_type != "RequestResponse" && ex.invocation_type != "Event" &&
        ex.invocation_type != "DryRun") {
      return Status(StatusCode::kInvalidArgument,
                    "X-Amz-Invocation-Type is RequestResponse, Event or DryRun", "invalid_request");
    }
    ex.lambda_invoke = true;
    ex.async_submit = ex.invocation_type == "Event";
    ex.path = kLambdaInvokePath;
    ex.route = "/2015-03-31/functions/{name}/invocations";
    return Status::Ok();
  }
  // /v1/async/{function}[/infer|/batch] (POST) and /v1/async/{id} (GET): async_stage.h.
  if (seg.size() >= 3 && seg.size() <= 4 && seg[0] == "v1" && seg[1] == "async") {
    if (req.method != "GET" && req.method != "HEAD" && req.method != "POST") {
      return Status(StatusCode::kInvalidArgument,
                    "use GET /v1/async/{id} to read an invocation, POST /v1/async/{function} to "
                    "submit one",
                    "method_not_allowed");
    }
    if (req.method == "GET" || req.method == "HEAD") {
      if (seg.size() != 3 || seg[2].empty()) {
        return Status(StatusCode::kNotFound, "no route " + req.path, "not_found");
      }
      ex.async_id = std::string(seg[2]);
      ex.route = "/v1/async/{id}";
      return Status::Ok();
    }
    std::string_view action = seg.size() == 4 ? seg[3] : "infer";
    if (action != "infer" && action != "batch") {
      return Status(StatusCode::kNotFound, "no route " + req.path, "not_found");
    }
    ex.function = Find(seg[2]);
    if (ex.function == nullptr) return Unknown(seg[2]);
    ex.path = "/v1/" + std::string(action);
    ex.route =
        "/v1/async/{function}" + std::string(seg.size() == 4 ? "/" + std::string(action) : "");
    ex.async_submit = true;
    return Status::Ok();
  }
  // /v1/models/{name}/infer | /batch
  if (seg.size() == 4 && seg[0] == "v1" && seg[1] == "models" &&
      (seg[3] == "infer" || seg[3] == "batch")) {
    ex.function = Find(seg[2]);
    if (ex.function == nullptr) return Unknown(seg[2]);
    ex.path = "/v1/" + std::string(seg[3]);
    ex.route = ex.path;
    return Status::Ok();
  }
  // /v1/infer, /v1/batch: ?model=, then "model" in the body, then the only function.
  if (seg.size() == 2 && seg[0] == "v1" && (seg[1] == "infer" || seg[1] == "batch")) {
    std::string name = QueryParam(req.query, "model");
    // With one function there is nothing to choose: the body is not parsed here (the instance
    // still refuses a "model" that is not its own).
    if (name.empty() && seg[1] == "infer" && functions_->size() > 1) {
      auto body = Json::Parse(req.body);
      if (body.ok() && body->is_object()) {
        if (const Json* m = body->Find("model"); m && m->is_string()) name = m->AsString();
      }
    }
    if (name.empty()) {
      if (functions_->size() != 1) {
        return Status(StatusCode::kInvalidArgument,
                      "several functions are served: choose one with /v1/models/{name}/" +
                          std::string(seg[1]) + ", ?model=NAME or \"model\" in the body",
                      "invalid_request");
      }
      ex.function = &(*functions_)[0];
    } else {
      ex.function = Find(name);
      if (ex.function == nullptr) return Unknown(name);
    }
    ex.path = req.path;
    ex.route = req.path;
    return Status::Ok();
  }
  // /v2/models/{name}[/versions/{v}][/infer|/ready]
  if (seg.size() >= 3 && seg[0] == "v2" && seg[1] == "models") {
    FunctionRoute* fn = Find(seg[2]);
    if (fn == nullptr) return Unknown(seg[2]);
    size_t rest = 3;
    std::string version;
    if (seg.size() >= 5 && seg[3] == "versions") {
      version = std::string(seg[4]);
      rest = 5;
    }
    std::string_view tail = seg.size() > rest ? seg[rest] : "";
    if (seg.size() > rest + 1 || (tail != "" && tail != "infer" && tail != "ready")) {
      return Status(StatusCode::kNotFound, "no route " + req.path, "not_found");
    }
    ex.function = fn;
    // The instance serves the model's own name; rewrite the function name to it.
    ex.path = "/v2/models/" + fn->model + (version.empty() ? "" : "/versions/" + version) +
              (tail.empty() ? "" : "/" + std::string(tail));
    ex.route = std::string("/v2/models/{m}") + (version.empty() ? "" : "/versions/{v}") +
               (tail.empty() ? "" : "/" + std::string(tail));
    ex.version = std::move(version);
    return Status::Ok();
  }
  return Status(StatusCode::kNotFound, "no route " + req.path, "not_found");
}

Verdict RouteStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  if ((ex->local = table_->Find(ex->request.path)) != nullptr) return Verdict::kNext;
  Status s = Resolve(*ex);
  if (!s.ok()) {
    ex->response =
        ProblemAnswer(s.reason().empty() ? "not_found" : s.reason(), s.message(), ex->v2);
    return Verdict::kAnswered;
  }
  if (!ex->async_id.empty()) return Verdict::kNext;
  const std::string& method = ex->request.method;
  ex->v2_meta = ex->v2 && !EndsWith(ex->path, "/infer");
  if (!ex->v2_meta && method != "POST") {
    ex->response = ProblemAnswer("method_not_allowed", "use POST for " + ex->request.path, ex->v2);
    return Verdict::kAnswered;
  }
  if (ex->v2_meta && method != "GET" && method != "HEAD") {
    ex->response = ProblemAnswer("method_not_allowed", "use GET for " + ex->request.path, ex->v2);
    return Verdict::kAnswered;
  }
  return Verdict::kNext;
}

}  // namespace modelfn::gateway
