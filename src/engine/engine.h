// The inference engine seam: a loaded model with a fixed IO schema that turns input tensors into
// output tensors. The engine knows nothing of HTTP or of where the model came from.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tensor/schema.h"
#include "tensor/tensor.h"

namespace modelfn {

class Pipeline;  // pipeline/pipeline.h

// Per-call limits of Engine::Run.
struct RunLimits {
  // Monotonic nanoseconds (RealClock) after which the run is abandoned; 0: none.
  int64_t deadline_mono_ns = 0;
};

// What the model's author declares about an input beyond its schema (manifest.json), checked
// before a run so a request outside them gets a typed 400 instead of an engine failure.
struct InputLimits {
  std::string input;               // the schema input's name
  std::vector<int64_t> max_shape;  // same rank as the input, -1 where unbounded; empty: none
  bool has_range = false;          // every element must lie in [min, max] (numeric inputs)
  double min = 0;
  double max = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // The model's inputs and outputs. Stable for the engine's lifetime.
  virtual const ModelSchema& schema() const = 0;

  // Runs the model once. `inputs` holds one tensor per schema input, in schema order, each already
  // of the schema's dtype and a compatible shape (the caller validates). `outputs` lists indices
  // into schema().outputs; the result holds those tensors in that order, named.
  // Errors: kInvalidArgument with reason "invalid_input" when the engine rejects these inputs as
  // invalid (an index past a table, a shape the model cannot take): the caller's fault;
  // kInternal with reason "model_error" when the model fails otherwise; kDeadlineExceeded with
  // reason "timeout" when limits.deadline_mono_ns passed during the run (it is stopped). The engine
  // stays usable. Thread-safe: concurrent calls are allowed.
  virtual StatusOr<std::vector<Tensor>> Run(const std::vector<const Tensor*>& inputs,
                                            const std::vector<size_t>& outputs,
                                            const RunLimits& limits = RunLimits()) = 0;

  // Whether rows of separate requests may be concatenated into one Run (/v1/batch) without
  // changing any row's answer. Set once at load, before the engine is shared between threads:
  // false for models with batch-dependent operators unless the manifest says otherwise.
  bool merge_rows() const { return merge_rows_; }
  void set_merge_rows(bool merge) { merge_rows_ = merge; }

  // Declared limits of the inputs (see InputLimits), set once at load like merge_rows.
  const std::vector<InputLimits>& input_limits() const { return input_limits_; }
  void set_input_limits(std::vector<InputLimits> limits) { input_limits_ = std::move(limits); }

  // The manifest's pipeline (how outputs are reported), set once at load like merge_rows; null
  // when the manifest declares none. The engine itself never uses it: it travels with the model
  // so the handler core finds it wherever the engine was made.
  const Pipeline* pipeline() const { return pipeline_.get(); }
  void set_pipeline(std::shared_ptr<const Pipeline> p) { pipeline_ = std::move(p); }

 private:
  bool merge_rows_ = true;
  std::vector<InputLimits> input_limits_;
  std::shared_ptr<const Pipeline> pipeline_;
};

}  // namespace modelfn
