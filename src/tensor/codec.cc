#include "tensor/codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace modelfn {
namespace {

Status DTypeError(DType t, size_t index, const std::string& why) {
  return Status(
      StatusCode::kInvalidArgument,
      std::string("element ") + std::to_string(index) + ": " + why + " for " + DTypeName(t),
      "dtype_mismatch");
}

Status ShapeError(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "shape_mismatch");
}

template <typename T>
Status PutInt(const Json& e, DType t, size_t i, uint8_t* dst) {
  if (!e.is_number()) {
    if (e.is_bool()) {
      T v = e.AsBool() ? 1 : 0;
      std::memcpy(dst + i * sizeof(T), &v, sizeof(T));
      return Status::Ok();
    }
    return DTypeError(t, i, std::string("expected an integer, got ") + Json::TypeName(e.type()));
  }
  if (!e.is_integral()) {
    double d = e.AsDouble();
    // 3.0 is an integer written as a float (numpy, JavaScript do this); 3.5 is not.
    if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 9007199254740992.0) {
      return DTypeError(t, i, "expected an integer, got a fraction");
    }
    if (d < static_cast<double>(std::numeric_limits<T>::min()) ||
        d > static_cast<double>(std::numeric_limits<T>::max())) {
      return DTypeError(t, i, "value out of range");
    }
    T v = static_cast<T>(d);
    std::memcpy(dst + i * sizeof(T), &v, sizeof(T));
    return Status::Ok();
  }
  T v;
  if constexpr (std::is_signed_v<T>) {
    if (!e.fits_int64()) return DTypeError(t, i, "value out of range");
    int64_t x = e.AsInt64();
    if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max()) {
      return DTypeError(t, i, "value out of range");
    }
    v = static_cast<T>(x);
  } else {
    if (e.is_negative_integral()) return DTypeError(t, i, "negative value");
    uint64_t x = e.AsUint64();
    if (x > std::numeric_limits<T>::max()) return DTypeError(t, i, "value out of range");
    v = static_cast<T>(x);
  }
  std::memcpy(dst + i * sizeof(T), &v, sizeof(T));
  return Status::Ok();
}

Status PutFloating(const Json& e, DType t, size_t i, uint8_t* dst) {
  if (!e.is_number()) {
    return DTypeError(t, i, std::string("expected a number, got ") + Json::TypeName(e.type()));
  }
  double d = e.AsDouble();
  if (t == DType::kFp64) {
    if (!std::isfinite(d)) return DTypeError(t, i, "value out of range");
    std::memcpy(dst + i * 8, &d, 8);
    return Status::Ok();
  }
  if (t == DType::kFp32) {
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) {
      return DTypeError(t, i, "value out of range");
    }
    float f = static_cast<float>(d);
    std::memcpy(dst + i * 4, &f, 4);
    return Status::Ok();
  }
  if (!std::isfinite(d) || std::fabs(d) > 65504.0) return DTypeError(t, i, "value out of range");
  uint16_t h = FloatToHalf(static_cast<float>(d));
  std::memcpy(dst + i * 2, &h, 2);
  return Status::Ok();
}

// Converts one JSON element into slot i of the tensor (data pre-sized, strings pre-sized).
Status PutElement(const Json& e, size_t i, Tensor* out) {
  uint8_t* dst = out->data.data();
  switch (out->dtype) {
    case DType::kBool:
      if (e.is_bool()) {
        dst[i] = e.AsBool() ? 1 : 0;
        return Status::Ok();
      }
      if (e.is_integral() && (e.AsInt64() == 0 || e.AsInt64() == 1)) {
        dst[i] = static_cast<uint8_t>(e.AsInt64());
        return Status::Ok();
      }
      return DTypeError(out->dtype, i,
                        std::string("expected true or false, got ") + Json::TypeName(e.type()));
    case DType::kUint8:
      return PutInt<uint8_t>(e, out->dtype, i, dst);
    case DType::kUint16:
      return PutInt<uint16_t>(e, out->dtype, i, dst);
    case DType::kUint32:
      return PutInt<uint32_t>(e, out->dtype, i, dst);
    case DType::kUint64:
      return PutInt<uint64_t>(e, out->dtype, i, dst);
    case DType::kInt8:
      return PutInt<int8_t>(e, out->dtype, i, dst);
    case DType::kInt16:
      return PutInt<int16_t>(e, out->dtype, i, dst);
    case DType::kInt32:
      return PutInt<int32_t>(e, out->dtype, i, dst);
    case DType::kInt64:
      return PutInt<int64_t>(e, out->dtype, i, dst);
    case DType::kFp16:
    case DType::kFp32:
    case DType::kFp64:
      return PutFloating(e, out->dtype, i, dst);
    case DType::kBytes:
      if (!e.is_string()) {
        return DTypeError(out->dtype, i,
                          std::string("expected a string, got ") + Json::TypeName(e.type()));
      }
      out->strings[i] = e.AsString();
      return Status::Ok();
  }
  return InternalError("unknown dtype");
}

void Allocate(int64_t n, Tensor* out) {
  if (out->dtype == DType::kBytes) {
    out->data.clear();
    out->strings.assign(static_cast<size_t>(n), std::string());
  } else {
    out->strings.clear();
    out->data.resize(static_cast<size_t>(n) * DTypeSize(out->dtype));
  }
}

// Fills elements of a rectangular nested array whose shape is known; checks every level.
Status FillNested(const Json& v, const std::vector<int64_t>& shape, size_t dim, size_t* next,
                  Tensor* out) {
  if (dim == shape.size()) {
    if (v.is_array()) {
      return ShapeError("ragged or too deep nesting at element " + std::to_string(*next) +
                        ": expected a value at depth " + std::to_string(dim));
    }
    return PutElement(v, (*next)++, out);
  }
  if (!v.is_array()) {
    return ShapeError("ragged nesting at element " + std::to_string(*next) +
                      ": expected an array at depth " + std::to_string(dim) + " of shape " +
                      ShapeToString(shape));
  }
  const auto& a = v.AsArray();
  if (static_cast<int64_t>(a.size()) != shape[dim]) {
    return ShapeError("ragged nesting: an array at depth " + std::to_string(dim) + " has " +
                      std::to_string(a.size()) + " items where " + std::to_string(shape[dim]) +
                      " were expected (shape " + ShapeToString(shape) + ")");
  }
  size_t k = 0;
  if (dim + 1 == shape.size() && out->dtype == DType::kFp32) {
    // The common row, in one loop: in-range numbers into FP32. The first element that is
    // anything else goes, with the rest of the row, the general way, which names its error.
    uint8_t* dst = out->data.data() + *next * sizeof(float);
    for (; k < a.size(); ++k) {
      if (!a[k].is_number()) break;
      const double d = a[k].AsDouble();
      if (!(std::fabs(d) <= std::numeric_limits<float>::max())) break;  // NaN and beyond
      const float f = static_cast<float>(d);
      std::memcpy(dst + k * sizeof(float), &f, sizeof(float));
    }
    *next += k;
  }
  for (; k < a.size(); ++k) RETURN_IF_ERROR(FillNested(a[k], shape, dim + 1, next, out));
  return Status::Ok();
}

// Counts leaves of arbitrary nesting, stopping early past the cap.
void CountLeaves(const Json& v, int64_t cap, int64_t* n) {
  if (*n > cap) return;
  if (!v.is_array()) {
    ++*n;
    return;
  }
  for (const Json& e : v.AsArray()) {
    CountLeaves(e, cap, n);
    if (*n > cap) return;
  }
}

Status FillFlat(const Json& v, size_t* next, size_t n, Tensor* out) {
  if (v.is_array()) {
    for (const Json& e : v.AsArray()) RETURN_IF_ERROR(FillFlat(e, next, n, out));
    return Status::Ok();
  }
  if (*next >= n) return ShapeError("more data elements than the shape holds");
  return PutElement(v, (*next)++, out);
}

}  // namespace

Status DecodeNestedJson(const Json& value, int64_t max_elements, Tensor* out) {
  std::vector<int64_t> shape;
  for (const Json* p = &value; p->is_array();) {
    shape.push_back(static_cast<int64_t>(p->AsArray().size()));
    if (p->AsArray().empty()) break;
    p = &p->AsArray()[0];
  }
  ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(shape, max_elements));
  Allocate(n, out);
  out->shape = std::move(shape);
  size_t next = 0;
  return FillNested(value, out->shape, 0, &next, out);
}

Status DecodeJsonData(const Json& data, int64_t max_elements, Tensor* out) {
  ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(out->shape, max_elements));
  int64_t leaves = 0;
  CountLeaves(data, n, &leaves);
  if (leaves != n) {
    return ShapeError("data has " + std::string(leaves > n ? "more than " : "") +
                      std::to_string(leaves) + " elements but shape " + ShapeToString(out->shape) +
                      " holds " + std::to_string(n));
  }
  Allocate(n, out);
  size_t next = 0;
  return FillFlat(data, &next, static_cast<size_t>(n), out);
}

Status DecodeBinaryData(std::string_view bytes, int64_t max_elements, Tensor* out) {
  ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(out->shape, max_elements));
  if (out->dtype != DType::kBytes) {
    size_t want = static_cast<size_t>(n) * DTypeSize(out->dtype);
    if (bytes.size() != want) {
      return ShapeError("binary data has " + std::to_string(bytes.size()) + " bytes but shape " +
                        ShapeToString(out->shape) + " of " + DTypeName(out->dtype) + " needs " +
                        std::to_string(want));
    }
    out->strings.clear();
    out->data.resize(bytes.size());  // one memcpy: assign() from chars copied byte by byte
    if (!bytes.empty()) std::memcpy(out->data.data(), bytes.data(), bytes.size());
    if (out->dtype == DType::kBool) {
      for (uint8_t& b : out->data) b = b ? 1 : 0;
    }
    return Status::Ok();
  }
  out->data.clear();
  out->strings.clear();
  // Each element takes at least its 4-byte length: never reserve more than the data can hold.
  out->strings.reserve(std::min(static_cast<size_t>(n), bytes.size() / 4));
  size_t pos = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (bytes.size() - pos < 4) return ShapeError("binary BYTES data is truncated");
    uint32_t len;
    std::memcpy(&len, bytes.data() + pos, 4);
    pos += 4;
    if (bytes.size() - pos < len) return ShapeError("binary BYTES data is truncated");
    out->strings.emplace_back(bytes.substr(pos, len));
    pos += len;
  }
  if (pos != bytes.size()) {
    return ShapeError("binary BYTES data has " + std::to_string(bytes.size() - pos) +
                      " bytes past the shape's elements");
  }
  return Status::Ok();
}

namespace {

void WriteElement(const Tensor& t, size_t i, JsonWriter* w) {
  const uint8_t* p = t.data.data();
  switch (t.dtype) {
    case DType::kBool:
      w->Bool(p[i] != 0);
      return;
    case DType::kUint8:
      w->Uint(p[i]);
      return;
    case DType::kUint16: {
      uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      w->Uint(v);
      return;
    }
    case DType::kUint32: {
      uint32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      w->Uint(v);
      return;
    }
    case DType::kUint64: {
      uint64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      w->Uint(v);
      return;
    }
    case DType::kInt8:
      w->Int(static_cast<int8_t>(p[i]));
      return;
    case DType::kInt16: {
      int16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      w->Int(v);
      return;
    }
    case DType::kInt32: {
      int32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      w->Int(v);
      return;
    }
    case DType::kInt64: {
      int64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      w->Int(v);
      return;
    }
    case DType::kFp16: {
      uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      w->Float(HalfToFloat(v));
      return;
    }
    case DType::kFp32: {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      w->Float(v);
      return;
    }
    case DType::kFp64: {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      w->Double(v);
      return;
    }
    case DType::kBytes:
      w->String(t.strings[i]);
      return;
  }
}

void WriteNestedFrom(const Tensor& t, size_t dim, size_t* next, JsonWriter* w) {
  if (dim == t.shape.size()) {
    WriteElement(t, (*next)++, w);
    return;
  }
  w->BeginArray();
  for (int64_t k = 0; k < t.shape[dim]; ++k) WriteNestedFrom(t, dim + 1, next, w);
  w->EndArray();
}

}  // namespace

void WriteNestedJson(const Tensor& t, JsonWriter* w) {
  size_t next = 0;
  WriteNestedFrom(t, 0, &next, w);
}

void WriteFlatJson(const Tensor& t, JsonWriter* w) {
  w->BeginArray();
  int64_t n = t.NumElements();
  for (int64_t i = 0; i < n; ++i) WriteElement(t, static_cast<size_t>(i), w);
  w->EndArray();
}

size_t AppendBinaryData(const Tensor& t, std::string* out) {
  size_t before = out->size();
  if (t.dtype != DType::kBytes) {
    out->append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  } else {
    for (const std::string& s : t.strings) {
      uint32_t len = static_cast<uint32_t>(s.size());
      out->append(reinterpret_cast<const char*>(&len), 4);
      out->append(s);
    }
  }
  return out->size() - before;
}

}  // namespace modelfn
