// Writing HTTP/1.1 responses: the one function that writes a response head, the checks every
// header field passes on its way out, and the reason phrases.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelfn {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
};

// Response header fields are written by one function, which drops (and logs to stderr) a field
// whose name is not an RFC 9110 token or whose value holds CR, LF, NUL or another control
// character other than HTAB: no handler can split a response, whatever it copies into a header.
bool IsValidHeaderName(std::string_view name);
bool IsValidHeaderValue(std::string_view value);

// An X-Request-Id a client sent is echoed (and logged) only when this holds: 1 to 128 bytes of
// visible ASCII (0x21-0x7E). Anything else is replaced by a generated id.
bool IsSafeRequestId(std::string_view id);

// The reason phrase of `status` ("Status" for one without a name here).
const char* ReasonPhrase(int status);

// Appends the whole response `r` to *out: status line (a status outside 200-599 is written as
// 500), Server, Date, Content-Type, Content-Length, the handler's headers (minus invalid ones and
// those the server alone writes: framing, connection management, Content-Type, Date, Server;
// each dropped one is logged), Connection (keep-alive or close), then the body unless `head`
// (an answer to HEAD: the same fields, no content). Thread-safe.
void AppendResponse(const HttpResponse& r, bool keep_alive, bool head, std::string* out);

}  // namespace modelfn
