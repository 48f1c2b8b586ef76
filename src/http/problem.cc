#include "http/problem.h"

#include "common/json.h"

namespace modelfn {
namespace {

struct CodeInfo {
  const char* code;
  int status;
  const char* title;
};

// Codes keep their meaning forever; add new ones at the end.
constexpr CodeInfo kCodes[] = {
    {"invalid_json", 400, "Request body is not valid JSON"},
    {"invalid_request", 400, "Request is malformed"},
    {"unknown_input", 400, "Unknown input name"},
    {"missing_input", 400, "Missing model input"},
    {"dtype_mismatch", 400, "Value does not fit the input's datatype"},
    {"shape_mismatch", 400, "Tensor shape does not match the model"},
    {"payload_too_large", 413, "Request body too large"},
    {"too_many_elements", 413, "Too many tensor elements"},
    {"unsupported_media_type", 415, "Unsupported content type"},
    {"not_found", 404, "Not found"},
    {"method_not_allowed", 405, "Method not allowed"},
    {"model_not_ready", 503, "Model is not ready"},
    {"unauthorized", 401, "Authentication required"},
    {"forbidden", 403, "Forbidden"},
    {"rate_limited", 429, "Rate limit exceeded"},
    {"quota_exceeded", 429, "Quota exceeded"},
    {"timeout", 504, "Timed out"},
    {"instance_crashed", 502, "Function instance crashed"},
    {"overloaded", 503, "Overloaded"},
    {"async_unavailable", 503, "Asynchronous invocation queue unavailable"},
    {"idempotency_conflict", 422, "Idempotency key reused for another request"},
    {"model_error", 500, "Model failed at run time"},
    {"internal", 500, "Internal error"},
    {"unknown_output", 400, "Unknown output name"},
    {"text_expected", 400, "A text model's input is not text"},
    {"text_too_long", 400, "Text longer than the model accepts"},
    {"invalid_text", 400, "Text the tokenizer cannot encode"},
    {"header_too_large", 431, "Request header fields too large"},
    {"request_timeout", 408, "Request not received in time"},
    {"not_implemented", 501, "Not implemented"},
    {"response_too_large", 500, "Response exceeds the platform's size limit"},
    {"throttled", 429, "All instances busy and the queue is full"},
    {"init_failed", 502, "Function instance failed to initialise"},
    {"function_error", 502, "Function returned an error"},
    {"out_of_memory", 502, "Function instance exceeded its memory limit"},
    {"shutting_down", 503, "Platform is shutting down"},
    {"client_closed", 499, "Client closed the connection before the request ran"},
    {"invalid_input", 400, "The model rejected the input's values"},
    {"auth_unavailable", 503, "Credentials cannot be checked"},
    {"store_unavailable", 503, "Model store unreachable"},
    {"missing_event_attribute", 400, "CloudEvent lacks a required attribute"},
    {"unsupported_specversion", 400, "CloudEvents spec version not served"},
    {"invalid_cloudevent", 400, "Malformed CloudEvent"},
    {"invalid_base64", 400, "Data is not valid base64"},
    {"unsupported_event_type", 400, "Event type not served by this function"},
    {"invalid_event_data", 400, "Event data does not match its type"},
    {"invalid_invocation", 400, "Malformed Azure Functions invocation payload"},
    {"unsupported_trigger", 400, "Azure Functions trigger not served by this function"},
    {"image_unsupported", 415, "Not a JPEG, PNG or WebP image"},
    {"image_invalid", 400, "Image data is corrupt or truncated"},
    {"image_too_large", 413, "Image dimensions over the model's limits"},
    {"object_too_large", 413, "Stored input object too large"},
    {"rows_failed", 422, "Rows of a stored input object failed"},
    {"row_too_large", 413, "A row of a stored input object is too large"},
    {"scratch_full", 507, "No room in the temporary folder for a stored input object"},
    {"profile_missing", 404, "No profile of the model version to plan from"},
    {"profile_mismatch", 409, "The profile is of another model version"},
    {"invalid_traffic", 400, "Traffic pattern or trace does not parse"},
};

const CodeInfo* Find(std::string_view code) {
  for (const auto& c : kCodes) {
    if (code == c.code) return &c;
  }
  return nullptr;
}

}  // namespace

int StatusForCode(std::string_view code) {
  const CodeInfo* c = Find(code);
  return c ? c->status : 500;
}

const char* TitleForCode(std::string_view code) {
  const CodeInfo* c = Find(code);
  return c ? c->title : "Internal error";
}

Problem MakeProblem(std::string_view code, std::string detail) {
  const CodeInfo* c = Find(code);
  if (c == nullptr) c = Find("internal");
  return Problem{c->status, c->code, c->title, std::move(detail)};
}

std::vector<std::string_view> ProblemCodes() {
  std::vector<std::string_view> out;
  for (const auto& c : kCodes) out.push_back(c.code);
  return out;
}

Problem ProblemFromStatus(const Status& s) {
  if (!s.reason().empty() && Find(s.reason())) return MakeProblem(s.reason(), s.message());
  const char* code = "internal";
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      code = "invalid_request";
      break;
    case StatusCode::kNotFound:
      code = "not_found";
      break;
    case StatusCode::kResourceExhausted:
      code = "overloaded";
      break;
    case StatusCode::kUnavailable:
      code = "overloaded";
      break;
    case StatusCode::kFailedPrecondition:
      code = "model_not_ready";
      break;
    case StatusCode::kDeadlineExceeded:
      code = "timeout";
      break;
    case StatusCode::kUnimplemented:
      code = "not_implemented";
      break;
    default:
      code = "internal";
      break;
  }
  return MakeProblem(code, s.message());
}

std::string Problem::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("type").String("urn:modelfn:problem:" + code);
  w.Key("title").String(title);
  w.Key("status").Int(status);
  w.Key("detail").String(detail);
  w.Key("code").String(code);
  w.EndObject();
  return out;
}

}  // namespace modelfn
