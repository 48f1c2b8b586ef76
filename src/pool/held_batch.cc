#include "pool/held_batch.h"

#include <strings.h>

#include <string_view>
#include <utility>

#include "common/json.h"
#include "http/media_type.h"
#include "http/problem.h"

namespace modelfn {
namespace {

// The function's headers that describe the merged invocation rather than one request's answer.
bool BatchOnlyHeader(const std::string& name) {
  const char* n = name.c_str();
  return strncasecmp(n, "x-batch-", 8) == 0 || strcasecmp(n, "x-request-id") == 0 ||
         strcasecmp(n, "content-type") == 0 || strcasecmp(n, "content-length") == 0 ||
         strcasecmp(n, "transfer-encoding") == 0;
}

Status NotABatchAnswer(const std::string& why) {
  return Status(StatusCode::kFailedPrecondition, "the merged invocation's answer " + why,
                "held_batch_unusable");
}

}  // namespace

bool HeldMergeable(const ForwardRequest& r) {
  if (r.method != "POST" || r.path != "/v1/infer" || !r.query.empty()) return false;
  if (!IsJsonMediaType(r.content_type)) return false;
  if (r.body.empty() || r.body.size() > kHeldBatchMaxBytes) return false;
  // Inside {"items": [...]} the body sits two levels deeper: it must parse with two to spare.
  Json::ParseOptions options;
  options.max_depth -= 2;
  auto type = Json::Validate(r.body, options);
  return type.ok() && *type == Json::Type::kObject;
}

ForwardRequest MergeHeld(const std::vector<std::shared_ptr<const ForwardRequest>>& members) {
  ForwardRequest out;
  const ForwardRequest& first = *members.front();
  out.method = "POST";
  out.path = "/v1/batch";
  out.content_type = "application/json";
  out.request_id = first.request_id;
  out.source_ip = first.source_ip;
  out.arrived_ns = first.arrived_ns;
  for (const auto& [name, value] : first.headers) {
    if (name != "content-length" && name != "content-type") out.headers.emplace_back(name, value);
  }
  out.headers.emplace_back("content-type", "application/json");
  size_t bytes = 16;
  for (const auto& m : members) bytes += m->body.size() + 1;
  out.body.reserve(bytes);
  out.body += "{\"items\":[";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out.body += ',';
    out.body += members[i]->body;
  }
  out.body += "]}";
  return out;
}

StatusOr<std::vector<HeldAnswer>> SplitHeld(const ForwardReply& merged, size_t n) {
  if (merged.status != 200) {
    return NotABatchAnswer("has status " + std::to_string(merged.status));
  }
  Json::ParseOptions options;
  options.max_elements = merged.body.size() + 16;  // every value takes at least one byte
  auto parsed = Json::Parse(merged.body, options);
  if (!parsed.ok()) return NotABatchAnswer("is not JSON: " + parsed.status().message());
  const Json* model = parsed->Find("model");
  const Json* version = parsed->Find("version");
  const Json* results = parsed->Find("results");
  if (model == nullptr || !model->is_string() || version == nullptr || !version->is_string() ||
      results == nullptr || !results->is_array()) {
    return NotABatchAnswer("lacks model, version or results");
  }
  if (results->AsArray().size() != n) {
    return NotABatchAnswer("has " + std::to_string(results->AsArray().size()) + " results for " +
                           std::to_string(n) + " items");
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : merged.headers) {
    if (!BatchOnlyHeader(name)) headers.emplace_back(name, value);
  }
  const std::string head = "{\"model\":" + model->Dump() + ",\"version\":" + version->Dump();
  std::vector<HeldAnswer> out(n);
  for (size_t i = 0; i < n; ++i) {
    const Json& item = results->AsArray()[i];
    if (!item.is_object()) return NotABatchAnswer("has a result that is not an object");
    HeldAnswer& a = out[i];
    a.reply.headers = headers;
    a.reply.held_batch = static_cast<int>(n);
    a.reply.instance = merged.instance;
    a.reply.version = merged.version;
    if (const Json* error = item.Find("error")) {
      const Json* status = error->Find("status");
      const Json* code = error->Find("code");
      int s = status != nullptr && status->is_integral() ? static_cast<int>(status->AsInt64()) : 0;
      a.reply.status = s >= 400 && s <= 599 ? s : 500;
      a.reply.content_type = std::string(kProblemContentType);
      a.reply.body = error->Dump();
      a.resend =
          n > 1 && code != nullptr && code->is_string() && code->AsString() == "too_many_elements";
      continue;
    }
    a.reply.status = 200;
    a.reply.content_type = "application/json";
    std::string& body = a.reply.body;
    body = head;
    for (const auto& [key, value] : item.AsObject()) {
      body += ',';
      body += Json::String(key).Dump();
      body += ':';
      body += value.Dump();
    }
    body += '}';
  }
  return out;
}

}  // namespace modelfn
