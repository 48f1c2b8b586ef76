// modelfn's former hand-written JSON parser, for bench/parsers_bench only: quadratic on large
// objects (each key was compared with every earlier one), last duplicate key wins.
#pragma once

#include <string_view>

#include "common/json.h"

namespace modelfn {

StatusOr<Json> LegacyParseJson(std::string_view text);

}  // namespace modelfn
