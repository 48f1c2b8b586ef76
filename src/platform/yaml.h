// modelfn.yaml's reader: YAML 1.2 parsed by yaml-cpp into the JSON DOM. Plain scalars follow
// the core schema (true/false, null/~, integers, floats; anything else is a string); quoted and
// block scalars are strings. Anchors and aliases work, bounded: a document that expands to more
// than 100,000 values or nests deeper than 64 is refused (no "billion laughs"). Tags other than
// !!str/!!map/!!seq, keys that are collections, duplicate keys and multi-document streams are
// refused with an error naming the line.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace modelfn {

// Errors: InvalidArgument "line N: ..." for malformed text or text outside the rules above.
StatusOr<Json> ParseYaml(std::string_view text);

}  // namespace modelfn
