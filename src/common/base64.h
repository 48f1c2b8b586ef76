// Base64 (RFC 4648): standard with padding, and URL-safe without padding (JWT).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace modelfn {

std::string Base64Encode(std::string_view bin);
std::string Base64UrlEncode(std::string_view bin);
// Strict RFC 4648 decoding of padded standard base64; spaces, tabs and line breaks between
// characters are ignored. InvalidArgument (reason "invalid_request") for a character outside the
// alphabet, a length (whitespace aside) that is not a multiple of 4, or '=' anywhere but as the
// last one or two characters. Bits below a final partial byte are ignored, as most decoders do.
// Written here rather than on OpenSSL's EVP_DecodeBlock, which accepts '=' inside the data and
// returns padding as zero bytes (bench/parsers_bench measures both; base64_test compares them).
StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace modelfn
