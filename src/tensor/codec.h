// Tensor codecs: JSON (nested arrays as in the seed API; flat or nested `data` as in the Open
// Inference Protocol) and the protocol's binary tensor data extension.
//
// Decode errors carry a reason for the API: dtype_mismatch (a value the dtype cannot hold),
// shape_mismatch (ragged nesting, element count not matching the shape), too_many_elements.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "tensor/tensor.h"

namespace modelfn {

// Decodes a JSON scalar or nested rectangular arrays into out->data/strings with out->shape taken
// from the nesting. out->dtype must be set. out->name is left alone.
Status DecodeNestedJson(const Json& value, int64_t max_elements, Tensor* out);

// Decodes Open Inference Protocol `data` (flat row-major, or nested: flattened) into a tensor
// whose dtype and shape are already set on `out`; the element count must equal the shape's.
Status DecodeJsonData(const Json& data, int64_t max_elements, Tensor* out);

// Decodes binary tensor data (little-endian elements; BOOL one byte each; BYTES as 4-byte
// little-endian length + bytes per element) into `out`, whose dtype and shape are set.
Status DecodeBinaryData(std::string_view bytes, int64_t max_elements, Tensor* out);

// Writes the elements as arrays nested by shape (a scalar for rank 0).
void WriteNestedJson(const Tensor& t, JsonWriter* w);
// Writes the elements as one flat array.
void WriteFlatJson(const Tensor& t, JsonWriter* w);
// Appends the binary encoding of the elements; returns the number of bytes appended.
size_t AppendBinaryData(const Tensor& t, std::string* out);

}  // namespace modelfn
