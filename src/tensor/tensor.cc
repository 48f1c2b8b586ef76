#include "tensor/tensor.h"

#include <cstring>

namespace modelfn {

namespace {
struct NameEntry {
  DType t;
  const char* name;
  size_t size;
};
constexpr NameEntry kNames[] = {
    {DType::kBool, "BOOL", 1},     {DType::kUint8, "UINT8", 1},   {DType::kUint16, "UINT16", 2},
    {DType::kUint32, "UINT32", 4}, {DType::kUint64, "UINT64", 8}, {DType::kInt8, "INT8", 1},
    {DType::kInt16, "INT16", 2},   {DType::kInt32, "INT32", 4},   {DType::kInt64, "INT64", 8},
    {DType::kFp16, "FP16", 2},     {DType::kFp32, "FP32", 4},     {DType::kFp64, "FP64", 8},
    {DType::kBytes, "BYTES", 0},
};
}  // namespace

const char* DTypeName(DType t) { return kNames[static_cast<int>(t)].name; }
size_t DTypeSize(DType t) { return kNames[static_cast<int>(t)].size; }

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const auto& e : kNames) {
    if (name == e.name) return e.t;
  }
  return std::nullopt;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t exp = (x >> 23) & 0xFF;
  uint32_t mant = x & 0x7FFFFF;
  if (exp == 0xFF) return static_cast<uint16_t>(sign | 0x7C00 | (mant ? 0x200 : 0));  // inf/nan
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00);  // overflow -> inf
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);  // underflow -> signed zero
    mant |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;  // may carry into exponent: correct
  return static_cast<uint16_t>(half);
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 0x1F) {
    x = sign | 0x7F800000 | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

int64_t Tensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

StatusOr<int64_t> CheckedElementCount(const std::vector<int64_t>& shape, int64_t max_elements) {
  int64_t n = 1;
  // A tensor written as nested JSON has one array per prefix of its shape: [1000000, 0, 9] has no
  // element but a million arrays. They count toward the limit like elements do.
  int64_t arrays = 0;
  for (size_t i = 0; i + 1 < shape.size() && shape[i] > 0; ++i) {
    int64_t prefix = 1;
    for (size_t j = 0; j <= i; ++j) {
      if (shape[j] > max_elements / prefix) {
        prefix = max_elements + 1;
        break;
      }
      prefix *= shape[j];
    }
    arrays += prefix;
    if (arrays > max_elements) {
      return Status(StatusCode::kResourceExhausted,
                    "shape " + ShapeToString(shape) + " makes more than " +
                        std::to_string(max_elements) + " nested arrays",
                    "too_many_elements");
    }
  }
  for (int64_t d : shape) {
    if (d < 0) {
      return Status(StatusCode::kInvalidArgument,
                    "shape " + ShapeToString(shape) + " has a negative dimension",
                    "shape_mismatch");
    }
    if (d != 0 && n > max_elements / d) {
      return Status(StatusCode::kResourceExhausted,
                    "shape " + ShapeToString(shape) + " has more than " +
                        std::to_string(max_elements) + " elements",
                    "too_many_elements");
    }
    n *= d;
  }
  if (n > max_elements) {
    return Status(StatusCode::kResourceExhausted,
                  "shape " + ShapeToString(shape) + " has more than " +
                      std::to_string(max_elements) + " elements",
                  "too_many_elements");
  }
  return n;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace modelfn
