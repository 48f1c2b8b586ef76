// Lambda event payloads <-> the handler core's Invocation and Outcome. Supported:
//   - API Gateway HTTP API (payload format 2.0) and Lambda Function URLs (same format);
//   - API Gateway REST API proxy integration (payload format 1.0);
//   - direct invoke with a seed-API body ({"inputs": ...} -> /v1/infer, {"items": [...]} ->
//     /v1/batch) or an Open Inference Protocol body ({"model_name"?, "inputs": [{"name", ...}]}).
// The same error codes as the HTTP face: API events answer problem+json with the code's status;
// a direct invoke that fails becomes a function error whose type is the code.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/base64.h"
#include "common/status.h"
#include "function/function_core.h"

namespace modelfn {

enum class EventKind { kHttpV2, kHttpV1, kDirect };

struct DecodedEvent {
  EventKind kind = EventKind::kDirect;
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercased names

  // An Invocation viewing this event's strings (valid while the event lives).
  Invocation ToInvocation() const;
};

// InvalidArgument (reason "invalid_json"/"invalid_request") when the payload is not an event.
StatusOr<DecodedEvent> DecodeEvent(std::string_view payload, const std::string& model_name);

// The Lambda response payload for an API Gateway / Function URL event.
std::string EncodeHttpResponse(const DecodedEvent& event, const Outcome& outcome);

}  // namespace modelfn
