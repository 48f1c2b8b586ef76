// Descriptions of a model's inputs and outputs, shared by the engine, the manifest and the faces.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace modelfn {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kFp32;
  std::vector<int64_t> shape;           // -1 for a dynamic dimension
  std::vector<std::string> dim_params;  // symbolic names ("batch"), "" where none; same rank
};

struct ModelSchema {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;

  // Index of the input / output with that name, or -1.
  int InputIndex(std::string_view name) const;
  int OutputIndex(std::string_view name) const;
};

}  // namespace modelfn
