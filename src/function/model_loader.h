// The init phase of a function for a model folder: read manifest.json, read the model file once
// and verify its sha256 (and every other listed file's), create the engine from exactly the bytes
// that were verified (no window in which the file could change between check and use), check the
// manifest describes the model, warm it up.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "engine/engine.h"
#include "function/function_core.h"
#include "manifest/manifest.h"

namespace modelfn {

// Makes the engine from the model file's verified bytes (`path` names it in messages only).
using EngineFactory = std::function<StatusOr<std::unique_ptr<Engine>>(const std::string& path,
                                                                      std::string_view bytes)>;

struct LoadedModel {
  std::unique_ptr<Engine> engine;
  Manifest manifest;
  InitTimings timings;  // verify, load and warmup filled in
  Status warmup;        // why the warm-up run failed, if it did (not fatal)
};

// Errors: NotFound (no folder / manifest.json / model file), InvalidArgument (invalid manifest),
// DataLoss (reason checksum_mismatch: a file differs from manifest.json; it is never loaded),
// FailedPrecondition (manifest_mismatch), and whatever the engine factory returns.
StatusOr<LoadedModel> LoadModelDir(const std::string& dir, const EngineFactory& make_engine,
                                   const Clock& clock);

// Runs the model once on zeros (dynamic dimensions = 1) so the first request does not pay for
// lazy initialisation. Errors are returned, not fatal: some models reject all-zero inputs.
Status Warmup(Engine& engine);

}  // namespace modelfn
