// The Azure Functions custom handler payloads (the host's "request payload" and the handler's
// "response payload"), parsed and shaped without any transport.
//
// Request: the host POSTs /<functionName> with {"Data": {<binding name>: value}, "Metadata":
// {<trigger metadata>, "sys": {...}}}. What triggered it is read from the payload itself:
//   blob     Metadata.BlobTrigger is "container/name" (the blob trigger's metadata);
//   http     one Data member is an HTTP request object ({"Url", "Method", "Body", ...}): an HTTP
//            trigger with other bindings, so not forwarded as is;
//   message  otherwise the single Data member (a queue message, a Service Bus message...): a
//            string is the message text, another JSON value is the message as JSON text.
// Response: {"Outputs": {<output binding name>: value}, "Logs": [string], "ReturnValue": v}.
//
// Errors are InvalidArgument with a problem code as reason: invalid_json (not JSON),
// invalid_invocation (not an object, Data missing / not an object / empty, Metadata not an
// object, BlobTrigger not "container/name"), unsupported_trigger (several Data members and none
// an HTTP request).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace modelfn {

enum class AzureTrigger { kBlob, kHttp, kMessage };

// "blob", "http", "message".
const char* AzureTriggerName(AzureTrigger trigger);

struct AzureInvocation {
  Json data;      // an object with at least one member
  Json metadata;  // an object (empty when the payload has none)
  AzureTrigger trigger = AzureTrigger::kMessage;
  std::string binding;  // the Data member the trigger arrived in
};

StatusOr<AzureInvocation> ParseAzureInvocation(std::string_view body);

// The blob of a blob trigger, from its metadata.
struct AzureBlob {
  std::string container;
  std::string name;  // below the container
  std::string etag;  // Metadata.Properties.ETag as given (quoted); may be empty
  std::string tag;   // the ETag's letters and digits: names the outputs; empty without an ETag
};
StatusOr<AzureBlob> BlobOf(const AzureInvocation& inv);

// The message text of a message trigger (a string member as is, other JSON as its text).
std::string MessageOf(const AzureInvocation& inv);

// The HTTP request of an http trigger (Data.<binding>): method, path of its Url, body text.
struct AzureHttpRequest {
  std::string method = "POST";
  std::string path;  // of Url, without query; "/" when Url has none
  std::string body;
  std::string content_type;  // the first Content-Type header value; may be empty
};
StatusOr<AzureHttpRequest> HttpRequestOf(const AzureInvocation& inv);

// The response payload. `return_value` absent -> "ReturnValue": null.
struct AzureReply {
  Json outputs = Json::MakeObject();
  std::vector<std::string> logs;
  std::optional<std::string> return_value;
  std::string ToJson() const;
};

// The core's route for a path the host forwarded (enableForwardingHttpRequest keeps the public
// path, /<route prefix>/<route>): the prefix is removed, and the seed's short names map to the
// seed API: /api/infer -> /v1/infer, /api/batch -> /v1/batch, /api/health -> /v1/health,
// /api/models -> /v1/models; /api/v1/... and /api/v2/... -> /v1/..., /v2/.... A path outside the
// prefix (or with an empty prefix) is returned as it is.
std::string ForwardedRoute(std::string_view path, std::string_view route_prefix);

// True for a path the host uses to invoke a function: one segment, /<functionName>, that is no
// route of the core (v1, v2) and not under the route prefix.
bool IsInvocationPath(std::string_view path, std::string_view route_prefix);

}  // namespace modelfn
