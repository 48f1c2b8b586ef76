// Encoded images in requests, for a pipeline with image inputs: a raw image body on /v1/infer,
// base64 strings in /v1 JSON (and so in /v1/batch items), and V2 BYTES tensors (base64 in JSON
// data, raw bytes in the binary tensor extension). Each becomes the image input's tensor through
// Pipeline::PrepareImages once the request's element budget has been charged for it, so a request
// that would make too large a tensor is refused before anything is decoded or allocated.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "function/inference.h"
#include "pipeline/pipeline.h"
#include "tensor/tensor.h"

namespace modelfn {

// True for the Content-Types whose body is one image: image/jpeg, image/png, image/webp
// (parameters and case aside). The image's format is still judged by its bytes.
bool IsImageMediaType(const std::string* content_type);

// A /v1/infer body that is one encoded image, for a model whose only input is an image input;
// the answer drops the batch dimension (p.single). Errors: "unsupported_media_type" when the model
// has no image input or has other inputs besides it (JSON names them); "invalid_request" for an
// empty body; PrepareImageInput's.
StatusOr<PreparedInputs> PrepareRawImageRequest(std::string_view body, const Pipeline* pipeline,
                                                int64_t* budget);

// A seed request's "inputs" for a pipeline with image inputs: a string (one image; p->single) or
// a list of strings, each base64 or a data: URL holding base64. Returns false, leaving *p alone,
// when `inputs` is neither, so that a tensor takes its usual path. Errors: "invalid_request" for a
// model with other inputs than its one image input (they go in an object keyed by input name);
// ImageValue's.
StatusOr<bool> TakeSeedImages(const Json& inputs, const Pipeline& pipeline, int64_t* budget,
                              PreparedInputs* p);

// True when `value`, given for an image input, holds images (a string, or a list whose first
// element is a string) rather than a tensor.
bool IsImageValue(const Json& value);
// Decodes such a value (a string: a batch of one; a list of strings: one row each) into schema
// input `i`'s tensor. Errors: "invalid_request" for a list holding no images or something other
// than strings; "invalid_base64" naming the image's index; PrepareImageInput's.
Status ImageValue(const Json& value, const Pipeline& pipeline, size_t i, int64_t* budget,
                  Tensor* out);

// A V2 BYTES tensor *t ([N] or [N, 1]) given for image input `i`: its elements are the images,
// base64 when they came as JSON `data` (`base64` true), raw bytes from the binary extension.
// Replaces *t by the input's tensor. Errors: "shape_mismatch" for another shape; "invalid_base64";
// PrepareImageInput's.
Status V2ImageInput(const Pipeline& pipeline, size_t i, bool base64, int64_t* budget, Tensor* t);

// Prepares `encoded` (one image per row) into schema input `i`, an image input: checks a fixed
// batch dimension (shape_mismatch) and charges the tensor's elements to *budget
// (too_many_elements past it, 413) before decoding; then Pipeline::PrepareImages's errors
// (image_unsupported 415, image_invalid 400, image_too_large 413).
Status PrepareImageInput(const Pipeline& pipeline, size_t i,
                         const std::vector<std::string_view>& encoded, int64_t* budget,
                         Tensor* out);

}  // namespace modelfn
