// RFC 9457 problem details with modelfn's stable error codes, and their HTTP statuses.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {

struct Problem {
  int status = 500;
  std::string code;    // stable machine-readable code, e.g. "dtype_mismatch"
  std::string title;   // short human summary of the code
  std::string detail;  // what happened in this occurrence

  // {"type":"urn:modelfn:problem:<code>","title":..,"status":..,"detail":..,"code":..}
  std::string ToJson() const;
};

inline constexpr std::string_view kProblemContentType = "application/problem+json";

// The HTTP status and title for a code ("dtype_mismatch" -> 400). Unknown codes map to 500.
int StatusForCode(std::string_view code);
const char* TitleForCode(std::string_view code);

Problem MakeProblem(std::string_view code, std::string detail);

// Every code in the catalogue, oldest first. docs/api.md lists the same codes (a test checks).
std::vector<std::string_view> ProblemCodes();

// Turns a Status into a problem: its reason when it names a code, else a code chosen from the
// status category (InvalidArgument -> invalid_request, NotFound -> not_found, ...).
Problem ProblemFromStatus(const Status& s);

}  // namespace modelfn
