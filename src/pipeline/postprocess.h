// The arithmetic of output reports, over tensors, with no knowledge of manifests or transports:
// softmax, top-k and argmax along the last dimension, and mean pooling over an attention mask with
// optional L2 normalisation (sentence embeddings). Scores are computed in double precision and
// reported as FP32 tensors or doubles.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "tensor/tensor.h"

namespace modelfn {

// One entry of a ranking: a class index along the last dimension and its score.
struct Ranked {
  int64_t index = 0;
  double score = 0;
};

// The elements of a numeric tensor (any dtype but BYTES) as doubles. InvalidArgument for BYTES.
StatusOr<std::vector<double>> ToDoubles(const Tensor& t);

// Softmax along the last dimension (numerically stable: max subtracted), FP32, same shape and name.
// InvalidArgument for a scalar, a BYTES tensor or a zero-length last dimension.
StatusOr<Tensor> SoftmaxLastDim(const Tensor& t);

// The k best entries of every row along the last dimension (rows = product of the other
// dimensions), each row's entries by score descending, ties to the lower index; k is capped at the
// row length. With `softmax`, scores are the row's softmax probabilities, else the raw values.
// Result: rows * min(k, C) entries, row-major. InvalidArgument as SoftmaxLastDim.
StatusOr<std::vector<Ranked>> TopKLastDim(const Tensor& t, int64_t k, bool softmax);

// Mean of hidden[n, t, :] over the tokens t with mask[n, t] != 0 (the sum divided by the mask's
// sum, clamped below at 1e-9 as sentence-transformers does), then, with `l2`, each row divided by
// its L2 norm (clamped below at 1e-12). hidden: float [N, T, H]; mask: numeric [N, T]. Result: FP32
// [N, H] named like `hidden`. InvalidArgument (reason "shape_mismatch") when the shapes disagree.
StatusOr<Tensor> MeanPool(const Tensor& hidden, const Tensor& mask, bool l2);

}  // namespace modelfn
