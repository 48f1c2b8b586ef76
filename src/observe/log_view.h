// Reading the platform's logs back (`modelfn logs`): the JSON lines the instances of `modelfn up`
// write to <state_dir>/logs/<function>.log, filtered by function, time, level and request id,
// merged by time across functions, and shown as they are (--json) or as a readable line. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace modelfn::observe {

// debug 0, info 1, warn 2, error 3; anything else counts as info.
int LevelRank(std::string_view level);

// "30s", "10m", "2h", "1d" before `now_ms`, or an RFC 3339 time ("2026-12-04T10:00:00Z",
// fractions and offsets allowed): Unix milliseconds. InvalidArgument naming the forms.
StatusOr<int64_t> ParseSince(std::string_view text, int64_t now_ms);

// A log line's "ts" (RFC 3339, UTC "Z" or an offset) in Unix milliseconds; nullopt when absent or
// malformed.
std::optional<int64_t> ParseTimestamp(std::string_view ts);

struct LogFilter {
  int64_t since_ms = 0;    // 0: from the start
  int min_level = 0;       // LevelRank
  std::string request_id;  // "" any
  bool Matches(const Json& line) const;
};

// "10:36:02.289 digits     INFO  request e898fcd2-0 POST /v1/infer 200 0.17 ms cold" and the like,
// with ANSI colours (level, function) when `color`.
std::string PrettyLine(const std::string& function, const Json& line, bool color);

}  // namespace modelfn::observe
