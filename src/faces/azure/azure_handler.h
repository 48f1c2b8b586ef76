// The Azure Functions face: modelfn-fn as a custom handler on FUNCTIONS_CUSTOMHANDLER_PORT.
//
// Two kinds of request come from the Functions host:
//   - forwarded HTTP (host.json "enableForwardingHttpRequest": true, for HTTP-triggered functions
//     without other bindings): the caller's request as is, at its public path
//     /<route prefix>/<route>; ForwardedRoute (invocation.h) maps it to the handler core, so
//     /api/infer, /api/batch, /api/v1/... and /api/v2/... are served.
//   - invocations: POST /<functionName> with the request payload (invocation.h), answered with
//     the response payload:
//       blob     batch inference on the blob with the rules of faces/object_batch.h: the answer is
//                written as OUTPUT/<name below INPUT>.<etag>.json in the blob's container if
//                absent, failures (a blob that is gone, not an input, refused by the model) as
//                FAILURE/<...>.<etag>.error.json. Prefixes from MODELFN_AZURE_INPUT_PREFIX
//                ("incoming/"), MODELFN_AZURE_OUTPUT_PREFIX ("results/"),
//                MODELFN_AZURE_FAILURE_PREFIX ("failed/"). ReturnValue: the batch summary.
//                503 store_unavailable when the container cannot be opened or a failure record
//                cannot be written (the host then retries the blob: nothing is lost).
//       message  the message text is the request body of an inference (routed like a Lambda
//                direct invoke: {"items"} -> /v1/batch, Open Inference Protocol inputs -> /v2
//                infer, otherwise /v1/infer). ReturnValue: the answer's body (a 4xx answer too,
//                with a Logs line naming its code, so a bad message is recorded in the output
//                binding rather than retried); a 5xx answer is returned as the HTTP status, so
//                the host retries the message.
//       http     an HTTP trigger with other bindings: its request (Data.<name>) is served as a
//                forwarded one; Outputs.<MODELFN_AZURE_HTTP_OUTPUT, "res"> is the HTTP answer
//                {"statusCode", "headers", "body"}.
//     The result also goes to Outputs.<MODELFN_AZURE_OUTPUT_BINDING> when that is set (an output
//     binding named in function.json; "$return" bindings take ReturnValue).
//   A payload that is not one (invocation.h) is answered 400 problem+json (invalid_json,
//   invalid_invocation, unsupported_trigger): the host records the invocation as failed.
// Each invocation is logged as one {"event":"azure_invocation", ...} line on `log`.
#pragma once

#include <string>
#include <string_view>

#include "common/log.h"
#include "faces/azure/invocation.h"
#include "faces/object_batch.h"
#include "function/function_core.h"
#include "store/aws_auth.h"

namespace modelfn {

struct AzureFaceConfig : ObjectBatchConfig {
  std::string route_prefix = "api";  // host.json extensions.http.routePrefix
  std::string output_binding;        // MODELFN_AZURE_OUTPUT_BINDING; empty: ReturnValue only
  std::string http_output = "res";   // MODELFN_AZURE_HTTP_OUTPUT
  // MODELFN_AZURE_INPUT_PREFIX, MODELFN_AZURE_OUTPUT_PREFIX, MODELFN_AZURE_FAILURE_PREFIX,
  // MODELFN_AZURE_ROUTE_PREFIX (set it empty for routePrefix ""), and the two bindings above.
  static AzureFaceConfig FromEnv(const EnvFn& env);
};

class AzureHandler {
 public:
  // Pointers must outlive the handler. `open_container` opens a blob container (the store's
  // Azure backend in production). Thread-safe when the core and the opener are.
  AzureHandler(FunctionCore* core, std::string model_name, AzureFaceConfig config,
               BucketOpener open_container, const EventLog* log);

  // True when the request is an invocation (POST /<functionName>); other requests are served
  // by the core at Route(path).
  bool IsInvocation(std::string_view method, std::string_view path) const;
  std::string Route(std::string_view path) const;

  // One invocation: the function's name (the path without '/') and the request body.
  Outcome Invoke(std::string_view function, std::string_view body) const;

 private:
  Outcome Blob(const AzureInvocation& inv, JsonWriter& line) const;
  Outcome Message(const AzureInvocation& inv, JsonWriter& line) const;
  Outcome Http(const AzureInvocation& inv, JsonWriter& line) const;
  // The reply with the result in ReturnValue (and the configured output binding).
  Outcome Reply(AzureReply reply, const std::string& result) const;

  FunctionCore* core_;
  std::string model_name_;
  AzureFaceConfig config_;
  BucketOpener open_container_;
  const EventLog* log_;
};

// The env of the Azure store in a function app: AZURE_STORAGE_CONNECTION_STRING when set and not
// empty, else the app's own storage connection string AzureWebJobsStorage.
EnvFn AzureStoreEnv(const EnvFn& env);

}  // namespace modelfn
