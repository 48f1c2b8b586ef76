// A plan written three ways: JSON (`--json`), a short text summary for the terminal, and an HTML
// page with SVG charts that reads offline and runs no script (docs/plan.md, "Reading a plan").
#pragma once

#include <string>

#include "plan/planner.h"

namespace modelfn {
namespace plan {

std::string PlanToJson(const Plan& plan);
std::string PlanToText(const Plan& plan);
std::string PlanToHtml(const Plan& plan);

}  // namespace plan
}  // namespace modelfn
