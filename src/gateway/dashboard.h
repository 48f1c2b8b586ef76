// The live dashboard page (GET /dashboard): polls /v1/status once a second and draws instances
// over time, cold starts, latency percentiles and errors per function. One self-contained page, no
// external scripts (it must work offline and under a strict CSP).
#pragma once

#include <string_view>

namespace modelfn {

extern const std::string_view kDashboardHtml;

}  // namespace modelfn
