// /v1/batch: many seed-API items, merged into as few engine calls as their shapes allow.
#pragma once

#include <string_view>

#include "common/json.h"
#include "engine/engine.h"
#include "function/inference.h"

namespace modelfn {

// Runs a batch of seed-API items (outputs reported through engine.pipeline(), if any): items with
// compatible shapes run as one engine call (rows concatenated along the first dimension and split
// afterwards) when engine.merge_rows(), else one call per item; an invalid item gets its own error.
// Writes {"results": [...]} members into the open object of *w.
struct BatchStats {
  int items = 0;
  int failed = 0;
  int engine_calls = 0;
};
BatchStats RunBatch(const Json::Array& items, Engine& engine, const InferenceLimits& limits,
                    const RunLimits& run_limits, std::string_view model_name, JsonWriter* w);

}  // namespace modelfn
