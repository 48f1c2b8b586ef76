// Tensors as they cross the function: a dtype, a shape and packed little-endian element bytes
// (or strings for BYTES). The dtype names are the Open Inference Protocol's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {

enum class DType : uint8_t {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes,
};

// "FP32", "INT64", ... as the Open Inference Protocol spells them.
const char* DTypeName(DType t);
std::optional<DType> DTypeFromName(std::string_view name);
// Bytes per element; 0 for BYTES (variable length).
size_t DTypeSize(DType t);

// IEEE 754 half precision conversions (round to nearest even).
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

struct Tensor {
  std::string name;
  DType dtype = DType::kFp32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;         // numeric and BOOL (1 byte, 0/1) elements, packed
  std::vector<std::string> strings;  // BYTES elements

  int64_t NumElements() const;
  template <typename T>
  const T* As() const {
    return reinterpret_cast<const T*>(data.data());
  }
  template <typename T>
  T* MutableAs() {
    return reinterpret_cast<T*>(data.data());
  }
};

// Product of dims. InvalidArgument (reason shape_mismatch) for a negative dim, ResourceExhausted
// (reason too_many_elements) when the product overflows or exceeds max_elements.
StatusOr<int64_t> CheckedElementCount(const std::vector<int64_t>& shape, int64_t max_elements);

// "[1,64]" for messages.
std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace modelfn
