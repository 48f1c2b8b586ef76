// The answers the gateway gives itself.
#pragma once

#include <string>
#include <string_view>

#include "http/http_server.h"

namespace modelfn::gateway {

// RFC 9457 problem+json with the catalogue's status for `code` (http/problem.h); under /v2 (`v2`)
// the Open Inference Protocol's {"error", "code"} instead.
HttpResponse ProblemAnswer(std::string_view code, const std::string& detail, bool v2);

// A new random request id: 32 hex digits.
std::string NewRequestId();

inline bool IsV2Path(const std::string& path) { return path.rfind("/v2", 0) == 0; }

}  // namespace modelfn::gateway
