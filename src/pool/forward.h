// A request the gateway forwards to a function's instances, and the answer it gets back.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
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
  std::string source_ip;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercased names
  int64_t arrived_ns = 0;
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

// The API Gateway HTTP API (payload 2.0) event for a request, and its integration response back.
std::string BuildHttpApiEvent(const ForwardRequest& r, const std::string& request_id,
                              int64_t wall_ms);
ForwardReply ParseHttpApiResponse(std::string_view payload);

}  // namespace modelfn
