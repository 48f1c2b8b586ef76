// The API Gateway proxy payloads (HTTP API payload 2.0, which Lambda Function URLs share, and REST
// API payload 1.0), both directions, over neutral structs:
//   - the caller's side (the platform invoking a function): EncodeHttpApiEvent builds the event,
//     DecodeHttpApiResponse reads the function's answer back;
//   - the function's side: DetectApiEventFormat/DecodeApiEvent read the event,
//     EncodeApiResponse builds the answer.
// Pure functions: no I/O, no clock (the caller passes the time), callable from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace modelfn::aws {

enum class ApiEventFormat {
  kHttpV2,  // HTTP API payload 2.0 and Function URLs
  kRestV1,  // REST API proxy integration, payload 1.0
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// An HTTP request as an API event carries it.
struct ApiRequest {
  std::string method = "GET";
  std::string path;   // raw path, without the query
  std::string query;  // raw query string, without '?'
  std::string body;   // the bytes themselves (never base64)
  // Encode: lowercased names, in arrival order, repeats allowed (payload 2.0 joins them with
  // commas). Decode: names lowercased, in the event's order; only string values are kept.
  HeaderList headers;
  // Encode only: when non-empty, these replace any content-type / x-request-id in `headers`
  // (the values the caller has settled on), and request_id becomes requestContext.requestId.
  std::string content_type;
  std::string request_id;
  std::string source_ip;  // requestContext.http.sourceIp; "" encodes as 127.0.0.1
};

// The same request viewed in place, for a caller that holds it in its own struct: encoding then
// copies nothing but into the event. Every view must outlive the call it is passed to.
struct ApiRequestView {
  std::string_view method;
  std::string_view path;
  std::string_view query;
  std::string_view body;
  const HeaderList* headers = nullptr;  // null: none
  std::string_view content_type;
  std::string_view request_id;
  std::string_view source_ip;
};

// An HTTP response as a proxy integration answers it.
struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  HeaderList headers;  // other than Content-Type; names as the function wrote them
  std::string body;    // the bytes themselves (never base64)
};

// --- The caller's side -------------------------------------------------------------------------

// The payload 2.0 event for `request`. requestContext.requestId is request.request_id, or
// `fallback_request_id` when that is empty; timeEpoch is `wall_ms` (Unix ms). A body is sent as
// text when it is empty, or its content type is JSON or text/*; otherwise base64-encoded.
std::string EncodeHttpApiEvent(const ApiRequestView& request, std::string_view fallback_request_id,
                               int64_t wall_ms);
inline std::string EncodeHttpApiEvent(const ApiRequest& r, std::string_view fallback_request_id,
                                      int64_t wall_ms) {
  return EncodeHttpApiEvent(ApiRequestView{r.method, r.path, r.query, r.body, &r.headers,
                                           r.content_type, r.request_id, r.source_ip},
                            fallback_request_id, wall_ms);
}

// The function's answer to a payload 2.0 event. As HTTP APIs do, a payload that is not an object
// with an integral "statusCode" is itself a 200 application/json body. Headers lose
// Content-Length, Connection, Date and Server (the caller frames its own answer); Content-Type
// (any case) becomes content_type, application/json when absent. A base64 body that does not
// decode becomes empty.
// Fails (reason "function_error", the message a problem detail) when statusCode is outside
// 200-599: a 1xx would make a client expect another response on the connection.
StatusOr<ApiResponse> DecodeHttpApiResponse(std::string_view payload);

// --- The function's side -----------------------------------------------------------------------

// The format of a parsed payload, or nullopt when it is not an API event (e.g. a direct invoke).
// Payload 2.0: "version" "2.0" and requestContext.http present; 1.0: a string "httpMethod".
std::optional<ApiEventFormat> DetectApiEventFormat(const Json& event);

// The request an event of `format` carries. 1.0's queryStringParameters are joined as k=v&...
// (string values only). Fails with InvalidArgument, reason "invalid_request", when the body is
// not a string or not valid base64, or a 2.0 event has no string requestContext.http.method.
StatusOr<ApiRequest> DecodeApiEvent(const Json& event, ApiEventFormat format);

// The proxy integration answer for an event of `format`: Content-Type first, then `headers`.
// A body whose content type is application/octet-stream is base64-encoded, others sent as text.
// The parts are viewed, not copied: a function's answer may be large.
std::string EncodeApiResponse(ApiEventFormat format, int status, std::string_view content_type,
                              const HeaderList& headers, std::string_view body);
inline std::string EncodeApiResponse(ApiEventFormat format, const ApiResponse& response) {
  return EncodeApiResponse(format, response.status, response.content_type, response.headers,
                           response.body);
}

}  // namespace modelfn::aws
