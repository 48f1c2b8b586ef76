// Rows of separate requests merged into one engine call and split back: the pieces /v1/batch
// (batch.h) and dynamic batching (batcher.h) share.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "function/inference.h"
#include "tensor/tensor.h"

namespace modelfn {

// Whether the engine's model lets rows of separate requests run as one: it says so
// (engine.merge_rows()) and every input's first dimension is dynamic.
bool ModelMergesRows(const Engine& engine);

// The rows a request brings to a merged run: the first dimension its inputs share, or -1 when
// they do not share one (or it is 0, or there are no inputs), when the request cannot be merged.
int64_t MergeRows(const PreparedInputs& p);

// Requests with equal keys may be merged: the same outputs asked for and the same trailing
// dimensions of every input.
std::string MergeKey(const PreparedInputs& p);

// `parts` (same name, dtype and trailing dimensions) concatenated along the first dimension.
Tensor ConcatRows(const std::vector<const Tensor*>& parts);

// `t` split along its first dimension into pieces of `rows` each (their sum is t.shape[0]).
std::vector<Tensor> SplitRows(const Tensor& t, const std::vector<int64_t>& rows);

}  // namespace modelfn
