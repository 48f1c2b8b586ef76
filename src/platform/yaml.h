// A YAML subset for modelfn.yaml, parsed into the JSON DOM: block mappings and sequences by
// indentation, flow collections ({a: 1, b: [x, y]}), plain, single- and double-quoted scalars and
// comments. Plain scalars follow YAML 1.2's core schema: true/false, null/~, integers and floats;
// anything else is a string. Anchors, tags, multi-documents and block scalars (| >) are refused
// with an error naming the line, never guessed.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace modelfn {

// Errors: InvalidArgument "line N: ..." for text outside the subset or malformed.
StatusOr<Json> ParseYaml(std::string_view text);

}  // namespace modelfn
