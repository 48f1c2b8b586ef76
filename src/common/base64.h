// Base64 (RFC 4648): standard with padding, and URL-safe without padding (JWT).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace modelfn {

std::string Base64Encode(std::string_view bin);
std::string Base64UrlEncode(std::string_view bin);
// InvalidArgument (reason "invalid_request") for text that is not padded standard base64
// (line breaks and spaces are ignored).
StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace modelfn
