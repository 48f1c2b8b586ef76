// What the gateway forwards a request to: one function version's instances. The gateway knows
// only this interface; the composition root adapts the instance pool to it, and tests use an
// in-memory fake.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace modelfn::gateway {

struct ForwardRequest {
  std::string method = "POST";
  std::string path;  // as the function sees it ("/v1/infer")
  std::string query;
  std::string body;
  std::string content_type;
  std::string request_id;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercased names
  int64_t arrived_ns = 0;                                    // the gateway clock's monotonic time
};

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
};

using ReplyFn = std::function<void(ForwardReply)>;

class Backend {
 public:
  virtual ~Backend() = default;
  // The version this backend serves now (it may change when a function follows the store's
  // pointer). Thread-safe.
  virtual std::string version() const = 0;
  // Takes the request; `done` is called exactly once, from any thread (possibly before Submit
  // returns), with the function's answer or the platform's typed refusal (429, 503, 502, 504).
  // Never blocks. Thread-safe.
  virtual void Submit(ForwardRequest request, ReplyFn done) = 0;
};

}  // namespace modelfn::gateway
