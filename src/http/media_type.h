// Media types of request bodies, as the function's routes read them.
#pragma once

#include <string>
#include <string_view>

namespace modelfn {

// The media type without its parameters, lowercased, with spaces and tabs dropped
// ("Application/JSON; charset=utf-8" -> "application/json").
std::string LowerMediaType(std::string_view content_type);

// Whether a body of this Content-Type is read as JSON: none (empty), application/json,
// text/json, or any */*+json.
bool IsJsonMediaType(std::string_view content_type);

}  // namespace modelfn
