// `modelfn optimize`: a model version made faster to load and run, as a new version of the same
// model. ONNX Runtime's graph optimisations are applied once and saved (so the function does not
// redo them at every start), optionally after int8 quantisation (quantizer.h); the result is
// checked against the original on sample inputs (accuracy.h) and refused when it breaks the
// user's thresholds; size, session creation and Run time are measured before and after.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "manifest/manifest.h"
#include "optimize/accuracy.h"
#include "optimize/samples.h"

namespace modelfn {

struct OptimizeOptions {
  // ONNX Runtime graph optimisation saved into the model: 0 none, 1 basic, 2 extended (the
  // highest that runs on any CPU), 99 all (may be specific to this machine's CPU).
  int graph_level = 2;
  std::string quantize;  // "" none, "dynamic" or "static" (int8, quantizer.h)
  bool per_channel = false;
  std::string python;  // for quantisation; "" QuantizerPython()
  // Samples for the accuracy gate (and static quantisation's calibration); at least one.
  Samples samples;
  AccuracyGate gate;
  std::string version;    // the new version's name
  std::string from;       // what the source is ("name@version" or a folder), for the record
  int timing_rounds = 5;  // session creations (and Runs per sample) timed for each model
};

struct ModelCost {
  uint64_t bytes = 0;         // the model file and its external data
  uint64_t zipped_bytes = 0;  // the same deflated, as a Lambda zip carries them
  double session_ms = 0;      // ONNX Runtime session creation, median of timing_rounds
  double run_ms = 0;          // one Run per sample (up to 16), summed; median of timing_rounds
};

struct OptimizeResult {
  Manifest manifest;  // as written into out_dir
  AccuracyReport accuracy;
  ModelCost before, after;
};

// Reads the model folder `src_dir` (manifest.json; files verified), writes the optimised version
// into `out_dir` (an existing, empty folder): model.onnx (and model.onnx.data when the source
// keeps external data), the manifest's other files copied (labels, tokenizer), and manifest.json
// naming `options.version` with an "optimization" record (source and its sha256, level,
// quantisation, tool versions, accuracy). The folder is then loaded as the function loads one,
// so what is written is known to serve. On any error nothing is left in `out_dir`.
// Errors: LoadModelDir's for the source; Quantize's; CompareEngines's; CheckGate's
// (FailedPrecondition, reason "accuracy_gate_failed"); InvalidArgument (reason "usage") for
// options that do not fit the model.
StatusOr<OptimizeResult> OptimizeModelDir(const std::string& src_dir, const std::string& out_dir,
                                          const OptimizeOptions& options, const Clock& clock);

// "none", "basic", "extended", "all" for a graph level, and back (-1 when unknown).
const char* GraphLevelName(int level);
int GraphLevelFromName(const std::string& name);

}  // namespace modelfn
