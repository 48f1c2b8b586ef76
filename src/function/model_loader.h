// The init phase of a function for a model folder: read manifest.json, read the model file once
// and verify its sha256 (and every other listed file's), check that every external-data file the
// model names stays in the folder and is listed (so verified), create the engine from exactly the
// model bytes that were verified (no window in which the file could change between check and
// use), check the manifest describes the model, decide whether /v1/batch may merge rows, warm up.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

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
  // Operators that make a row's answer depend on the other rows of a run; rows of separate
  // requests are then not merged (engine->merge_rows() is false) unless the manifest says so.
  std::vector<std::string> batch_dependent_ops;
};

// Errors: NotFound (no folder / manifest.json / model file), InvalidArgument (invalid manifest;
// reason unsafe_external_data for external data outside the folder), DataLoss (reason
// checksum_mismatch: a file differs from manifest.json; it is never loaded),
// FailedPrecondition (manifest_mismatch; reason external_data_unlisted for an external-data file
// manifest.json does not list), and whatever the engine factory returns.
StatusOr<LoadedModel> LoadModelDir(const std::string& dir, const EngineFactory& make_engine,
                                   const Clock& clock);

// Runs the model once on zeros (dynamic dimensions = 1; an image input at its pipeline's size) so
// the first request does not pay for lazy initialisation. Errors are returned, not fatal: some
// models reject all-zero inputs.
Status Warmup(Engine& engine);

// Zero tensors for every input of the engine's model: fixed dimensions as declared, the first
// dynamic one `rows`, others 1, an image input at its pipeline's size. ResourceExhausted
// (reason warmup_skipped) when an input would exceed 2^20 elements.
StatusOr<std::vector<Tensor>> ZeroInputs(const Engine& engine, int64_t rows);

}  // namespace modelfn
