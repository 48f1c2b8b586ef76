// The accuracy gate of `modelfn optimize`: the same sample requests through the original and the
// optimised model, and how far their outputs are apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "optimize/samples.h"

namespace modelfn {

struct OutputAccuracy {
  std::string name;
  bool floating = false;     // FP16/FP32/FP64: compared by value
  double max_abs_error = 0;  // floating outputs: largest |original - optimised| of any element
  double max_abs_value = 0;  // floating outputs: largest |original|, to read the error against
  // Share of rows whose answer is the same: for a floating output with a last dimension of 2 or
  // more (class scores), rows whose argmax is the same; for other outputs (integer labels,
  // strings), elements that are equal. nullopt for a floating output without such a dimension.
  std::optional<double> agreement;
  uint64_t rows = 0;  // rows (or elements) the agreement counts
};

struct AccuracyReport {
  size_t samples = 0;
  std::vector<OutputAccuracy> outputs;  // the model's outputs, in schema order
  double max_abs_error = 0;             // over every floating output
  std::optional<double> agreement;      // the lowest of the outputs' agreements
};

// Runs every sample on both engines (prepared once for `original`'s schema and pipeline, the same
// tensors fed to both) and compares all their outputs. Errors: InvalidArgument (reason
// "invalid_samples") naming the sample that does not prepare or that the original model fails;
// FailedPrecondition (reason "optimized_model_fails") when the optimised model fails a sample the
// original answers, or answers with another dtype or shape.
StatusOr<AccuracyReport> CompareEngines(Engine& original, Engine& optimized,
                                        const Samples& samples);

// What the user accepts. Unset thresholds are not checked.
struct AccuracyGate {
  std::optional<double> max_abs_error;
  std::optional<double> min_agreement;  // 0..1
};

// OK, or FailedPrecondition (reason "accuracy_gate_failed") naming each threshold broken, the
// value measured and the output.
Status CheckGate(const AccuracyReport& report, const AccuracyGate& gate);

// {"samples", "synthetic", "max_abs_error", "agreement", "outputs": [...]} for the manifest's
// optimization record and the command's report.
std::string AccuracyJson(const AccuracyReport& report, bool synthetic);

}  // namespace modelfn
