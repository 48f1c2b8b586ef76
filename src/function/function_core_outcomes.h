// Outcomes the handler core's routes share (function_core.cc, function_core_info.cc).
#pragma once

#include <string_view>

#include "function/function_core.h"
#include "http/problem.h"

namespace modelfn {

// A problem+json answer.
Outcome ProblemOutcome(const Problem& p);
// Open Inference Protocol errors: {"error": "..."} as the protocol says, plus our stable code.
Outcome V2ErrorOutcome(const Problem& p);
// 405 with Allow: `allow`, as problem+json or (v2) as a protocol error.
Outcome MethodNotAllowed(std::string_view allow, bool v2);

}  // namespace modelfn
