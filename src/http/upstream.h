// The seam between the instance pool and the connections it forwards requests on: one HTTP/1.1
// exchange with a loopback peer (an http-mode instance), answered through a callback. The real one
// (loop_upstream.h) runs on a server's event loops with keep-alive connections; where no event
// loop runs, the pool keeps its blocking client on a worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/http_client.h"

namespace modelfn {

struct UpstreamCall {
  int port = 0;  // on 127.0.0.1
  std::string method = "POST";
  std::string target;  // path and query: "/v1/infer?x=1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint64_t max_response_bytes = 0;  // head and body; 0: no limit
  int stall_timeout_ms = 30'000;    // no byte of the answer for this long: a stalled exchange
};

// The answer, or an error, and where it failed: kConnect when the peer cannot have seen the
// request (refused), kExchange when it may have (the connection broke, stalled, or the answer was
// malformed or too large: ResourceExhausted with reason "response_too_large"). ResourceExhausted
// with failure kNone: this process is out of descriptors (the peer is not at fault).
using UpstreamDone = std::function<void(StatusOr<HttpReply> reply, HttpFailure failure)>;

class Upstream {
 public:
  virtual ~Upstream() = default;
  // Starts the exchange; `done` is called exactly once, never before Exchange returns. Thread-safe.
  virtual void Exchange(UpstreamCall call, UpstreamDone done) = 0;
};

}  // namespace modelfn
