// What `modelfn optimize` shares with `modelfn package --optimize` (optimize_cmd.cc).
#pragma once

#include <set>
#include <string>

#include "cli/args.h"
#include "common/status.h"
#include "manifest/manifest.h"
#include "optimize/optimizer.h"

namespace modelfn {

// The value flags of the optimisation (besides the boolean --per-channel).
inline const std::set<std::string> kOptimizeValueFlags = {
    "level", "quantize", "samples", "max-samples", "max-abs-error", "min-agreement"};

// The options those flags give for the model `src` (--version, else src's version with -opt or
// -int8). InvalidArgument with reason "usage" for a flag's bad value; LoadSamples' and
// SyntheticSamples' errors.
StatusOr<OptimizeOptions> OptimizeOptionsFromArgs(const Args& a, const Manifest& src);

// Optimises the model folder `model_dir` into a new temporary folder, which it returns (the caller
// removes it), printing the report on stderr. OptimizeModelDir's errors.
StatusOr<std::string> OptimizeForPackage(const Args& a, const std::string& model_dir);

}  // namespace modelfn
