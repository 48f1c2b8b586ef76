// Checks of a request's decoded inputs that need more than one input's spec or the manifest's
// declarations: run before the model, so what the model cannot take gets a typed 400.
#pragma once

#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "tensor/schema.h"
#include "tensor/tensor.h"

namespace modelfn {

// Checks that inputs sharing a symbolic dimension (ids [N,S] and mask [N,S]) agree on its size:
// shape_mismatch naming both inputs and the dimension otherwise. `inputs` in schema order.
Status CheckSharedDims(const ModelSchema& schema, const std::vector<Tensor>& inputs);

// Checks inputs against the limits the manifest declares (engine.input_limits()): a dimension over
// its "max_shape" is shape_mismatch, a value outside its "range" invalid_input, each naming the
// input. `inputs` in schema order.
Status CheckInputLimits(const Engine& engine, const std::vector<Tensor>& inputs);

}  // namespace modelfn
