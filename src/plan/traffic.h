// The traffic `modelfn plan` simulates: request arrival times of one function, either made from a
// rate pattern or read from a trace recorded by `modelfn up` (docs/plan.md, "Traffic").
//
// A pattern is words separated by spaces (a comma may stand between clauses):
//   RATE                        steady arrivals, RATE as "20rps", "20/s", "300/min", "5000/h"
//   spike Kx for DUR every PER  the rate times K for DUR at the start of every PER
//   off DUR every PER           no requests for DUR at the end of every PER (nights, weekends)
//   burst N every PER           N requests at once at the start of every PER
//   for DUR                     how long to simulate (default: one period of the longest clause,
//                               at least 10 minutes; at most 7 days)
//   uniform                     evenly spaced arrivals instead of Poisson ones
//   seed N                      the random seed (default 1)
// DUR and PER are a number and a unit: ms, s, m (or min), h, d. Example:
//   "20rps spike 10x for 2m every 1h"
//
// A trace is a file of JSON lines: the gateway's access lines of `modelfn up` ({"event":"access",
// "ts":"...Z","ms":..,"function":..}: the arrival is ts minus ms), or lines {"t": SECONDS,
// "function": NAME} where t counts from any origin. Arrivals are sorted and start at 0.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {
namespace plan {

struct Traffic {
  std::vector<double> arrivals_s;  // sorted, from 0
  double duration_s = 0;           // the window simulated (>= the last arrival)
  std::string description;         // the pattern as given, or "trace FILE (function F)"
  std::string function;            // the function a trace was filtered on ("" for a pattern)
  // Requests per second over the window.
  double MeanRps() const { return duration_s > 0 ? arrivals_s.size() / duration_s : 0; }
};

// At most this many arrivals in one traffic (a pattern asking for more is refused).
inline constexpr size_t kMaxArrivals = 20'000'000;

// Makes the arrivals of `pattern`. InvalidArgument (reason "invalid_traffic") naming the word that
// does not parse or the value out of range.
StatusOr<Traffic> TrafficFromPattern(std::string_view pattern);

// Reads a trace from `text` (the file's bytes; `name` names it in errors). `function` picks the
// function's lines; "" accepts a trace of one function only (InvalidArgument naming the functions
// when there are several). InvalidArgument (reason "invalid_traffic") naming the line that is not
// JSON, lacks a time, or whose time does not parse; NotFound-like InvalidArgument when no line is
// left for the function.
StatusOr<Traffic> TrafficFromTrace(std::string_view text, const std::string& name,
                                   const std::string& function);

// The traffic of arrivals at wall-clock times (seconds, in order or not), in a window from the
// first to `now`: what the gateway recorded of a function. InvalidArgument (reason
// "invalid_traffic") when there are fewer than two, or they span more than 7 days.
StatusOr<Traffic> TrafficFromArrivals(std::vector<double> wall_seconds, double now,
                                      const std::string& description);

// Seconds from a duration word ("90s", "2m", "1.5h"); InvalidArgument when it does not parse.
StatusOr<double> ParseDuration(std::string_view word);

}  // namespace plan
}  // namespace modelfn
