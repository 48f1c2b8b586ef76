// An in-memory Engine for tests of the layers above: a fixed schema and a function for Run.
#pragma once

#include <atomic>
#include <functional>

#include "engine/engine.h"

namespace modelfn {

class FakeEngine final : public Engine {
 public:
  using RunFn = std::function<StatusOr<std::vector<Tensor>>(const std::vector<const Tensor*>&,
                                                            const std::vector<size_t>&)>;
  FakeEngine(ModelSchema schema, RunFn fn) : schema_(std::move(schema)), fn_(std::move(fn)) {}
  const ModelSchema& schema() const override { return schema_; }
  StatusOr<std::vector<Tensor>> Run(const std::vector<const Tensor*>& inputs,
                                    const std::vector<size_t>& outputs,
                                    const RunLimits& limits = RunLimits()) override {
    ++runs_;
    return fn_(inputs, outputs);
  }
  int runs() const { return runs_; }

 private:
  ModelSchema schema_;
  RunFn fn_;
  std::atomic<int> runs_{0};
};

}  // namespace modelfn
