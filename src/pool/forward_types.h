// A request the gateway forwards to a function's instances, and the answer it gets back: the one
// shape both the gateway's forward stage (src/gateway/backend.h) and the instance pool (pool.h)
// speak, so the composition root hands one to the other without copying. Header only, no
// dependencies beyond the standard library: the gateway uses it without linking the pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace modelfn {

struct ForwardRequest {
  std::string method = "POST";
  std::string path;  // as the function sees it ("/v1/infer")
  std::string query;
  std::string body;
  std::string content_type;
  std::string request_id;
  std::string source_ip;                                     // "" when not known
  std::vector<std::pair<std::string, std::string>> headers;  // lowercased names
  int64_t arrived_ns = 0;                                    // the gateway clock's monotonic time
  // Set by the client connection's loop once the client has closed (HttpResponder::gone_flag):
  // a request still queued then is answered 499 `client_closed` instead of sent. Null: never.
  std::shared_ptr<const std::atomic<bool>> client_gone;
  // This send's time limit in seconds; 0: the function's timeout_s. A merged invocation of n
  // requests (held_batch.h) gets n times the function's.
  double timeout_s = 0;
  // Lambda's Invoke API (lambda mode only): `body` is the event itself, handed to the function
  // unchanged instead of an API Gateway event made from the request, and the answer is the
  // function's response payload unchanged (status 200; a function error's payload with
  // X-Amz-Function-Error: Unhandled).
  bool raw_event = false;
};

// The path an asynchronous invocation of the Invoke API is queued with (events/async_store.h
// keeps requests, and this marks one whose body is a raw event).
inline constexpr const char* kLambdaInvokePath = "lambda:invoke";
// The path prefix of an Azure Functions invocation (the azure face): "azure:invoke/NAME" is sent
// to the instance as POST /NAME with the invocation payload, as the Functions host does, not
// mapped under /api like a forwarded HTTP request (pool/face_path.h).
inline constexpr const char* kAzureInvokePrefix = "azure:invoke/";

struct ForwardReply {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string instance;     // instance name, "" when none served it
  std::string version;      // model version that served it
  bool cold_start = false;  // the request waited for an instance's init
  double queue_ms = 0;      // from arrival to dispatch
  std::string code;         // problem code when the platform answered for the function
  int held_batch = 0;       // requests of the merged invocation that answered it; 0: alone
};

using ReplyFn = std::function<void(ForwardReply)>;

// The header an Invoke API answer carries when the function reported an error (raw_event).
inline constexpr const char* kFunctionErrorHeader = "X-Amz-Function-Error";

// Whether `r` is a function's error reported through the Invoke API (status 200, the header).
inline bool IsFunctionError(const ForwardReply& r) {
  for (const auto& [k, v] : r.headers) {
    if (k == kFunctionErrorHeader || k == "x-amz-function-error") return true;
  }
  return false;
}

}  // namespace modelfn
