// The API Gateway payload for a forwarded request (lambda-mode instances), over the aws codec.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pool/forward_types.h"

namespace modelfn {

// The API Gateway HTTP API (payload 2.0) event for a request, and its integration response back.
std::string BuildHttpApiEvent(const ForwardRequest& r, const std::string& request_id,
                              int64_t wall_ms);
ForwardReply ParseHttpApiResponse(std::string_view payload);

}  // namespace modelfn
