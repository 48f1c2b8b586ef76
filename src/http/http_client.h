// The HTTP seam of the cloud store backends and loopback control APIs: one request, one response.
// CurlHttpClient is the real one (libcurl: TLS with the system's CA store, redirects off, connect
// timeout, stall detection); tests of signing and parsing can substitute a fake.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/progress.h"

namespace modelfn {

// Where a Send failed: the kind of its error, apart from the Status (whose reason stays free for
// the problem codes callers map errors to).
enum class HttpFailure {
  kNone,      // it did not fail, or failed before any network step (an unsupported call)
  kConnect,   // no connection was made (name not resolved, refused, unreachable, no socket): the
              // server cannot have seen the request
  kExchange,  // the connection broke, stalled or answered badly after it was made: the server may
              // have seen the request
};

struct HttpCall {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // sent when body_file is empty
  std::string body_file;  // else this file's [body_offset, body_offset + body_length)
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  std::string response_file;  // when set, a 2xx response body streams here instead of memory
  ProgressFn progress;
  int connect_timeout_ms = 5000;
  int stall_timeout_s = 30;  // abort when under 1 KiB/s for this long
  // The plain client refuses a response whose head or body is larger (ResourceExhausted, reason
  // "response_too_large"); 0: no limit. For peers that are not trusted to be small: instances, a
  // JWKS URL.
  uint64_t max_response_bytes = 0;
  // When set, Send stores here where it failed (kNone when it succeeded): for a caller that may
  // send the request elsewhere only when the server cannot have seen it.
  HttpFailure* failure = nullptr;
};

struct HttpReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;         // empty when streamed to response_file (unless not 2xx)
  uint64_t body_bytes = 0;  // bytes received for the body

  const std::string* Header(std::string_view lowercase_name) const;
  // The header's value, or "" when absent.
  std::string HeaderOr(std::string_view lowercase_name) const;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Errors: Unavailable when the server cannot be reached or the connection breaks,
  // DeadlineExceeded on a stall, DataLoss when a 2xx body ends before its Content-Length. Any HTTP
  // status is a successful reply. When call.failure is set, it tells where a failure happened.
  virtual StatusOr<HttpReply> Send(const HttpCall& call) = 0;
};

std::unique_ptr<HttpClient> MakeCurlHttpClient();
// Plain HTTP/1.1 without TLS and in memory only, for loopback control APIs such as the Lambda
// Runtime API: no libcurl to load. ResourceExhausted when this process cannot open a socket.
std::unique_ptr<HttpClient> MakePlainHttpClient();

// Calls `attempt` until it succeeds or fails with a non-transient error, at most `tries` times,
// sleeping 50 ms, 200 ms, 800 ms, ... between tries. Transient: Unavailable, DeadlineExceeded
// (a broken connection, a stall, a 5xx or 429 mapped to Unavailable by the backend).
StatusOr<HttpReply> RetryTransient(int tries, const std::function<StatusOr<HttpReply>()>& attempt);

// RFC 3986 percent-encoding of everything but unreserved characters (and '/' when keep_slash).
std::string UriEncode(std::string_view s, bool keep_slash);

}  // namespace modelfn
