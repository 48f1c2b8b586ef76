#include "pipeline/postprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace modelfn {
namespace {

Status Invalid(const std::string& msg, const char* reason = "invalid_request") {
  return Status(StatusCode::kInvalidArgument, msg, reason);
}

template <typename T>
void AppendAs(const Tensor& t, std::vector<double>* out) {
  size_t n = t.data.size() / sizeof(T);
  out->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
    out->push_back(static_cast<double>(v));
  }
}

Tensor Fp32Tensor(const std::string& name, std::vector<int64_t> shape,
                  const std::vector<double>& values) {
  Tensor out;
  out.name = name;
  out.dtype = DType::kFp32;
  out.shape = std::move(shape);
  out.data.resize(values.size() * sizeof(float));
  for (size_t i = 0; i < values.size(); ++i) {
    float f = static_cast<float>(values[i]);
    std::memcpy(out.data.data() + i * sizeof(float), &f, sizeof f);
  }
  return out;
}

// Rows and row length of the last dimension; InvalidArgument when there is no usable one.
StatusOr<std::pair<size_t, size_t>> RowsAlongLastDim(const Tensor& t) {
  if (t.shape.empty()) return Invalid("output '" + t.name + "' is a scalar: no last dimension");
  if (t.dtype == DType::kBytes) return Invalid("output '" + t.name + "' is not numeric");
  int64_t c = t.shape.back();
  if (c <= 0) return Invalid("output '" + t.name + "' has a zero-length last dimension");
  int64_t n = t.NumElements();
  return std::make_pair(static_cast<size_t>(n / c), static_cast<size_t>(c));
}

void SoftmaxInPlace(double* row, size_t c) {
  double mx = *std::max_element(row, row + c);
  double sum = 0;
  for (size_t j = 0; j < c; ++j) {
    row[j] = std::exp(row[j] - mx);
    sum += row[j];
  }
  for (size_t j = 0; j < c; ++j) row[j] /= sum;
}

}  // namespace

StatusOr<std::vector<double>> ToDoubles(const Tensor& t) {
  std::vector<double> v;
  switch (t.dtype) {
    case DType::kBool:
    case DType::kUint8:
      AppendAs<uint8_t>(t, &v);
      break;
    case DType::kUint16:
      AppendAs<uint16_t>(t, &v);
      break;
    case DType::kUint32:
      AppendAs<uint32_t>(t, &v);
      break;
    case DType::kUint64:
      AppendAs<uint64_t>(t, &v);
      break;
    case DType::kInt8:
      AppendAs<int8_t>(t, &v);
      break;
    case DType::kInt16:
      AppendAs<int16_t>(t, &v);
      break;
    case DType::kInt32:
      AppendAs<int32_t>(t, &v);
      break;
    case DType::kInt64:
      AppendAs<int64_t>(t, &v);
      break;
    case DType::kFp16: {
      size_t n = t.data.size() / 2;
      v.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data.data() + i * 2, 2);
        v.push_back(HalfToFloat(h));
      }
      break;
    }
    case DType::kFp32:
      AppendAs<float>(t, &v);
      break;
    case DType::kFp64:
      AppendAs<double>(t, &v);
      break;
    case DType::kBytes:
      return Invalid("tensor '" + t.name + "' holds bytes, not numbers");
  }
  return v;
}

StatusOr<Tensor> SoftmaxLastDim(const Tensor& t) {
  ASSIGN_OR_RETURN(auto dims, RowsAlongLastDim(t));
  ASSIGN_OR_RETURN(std::vector<double> v, ToDoubles(t));
  for (size_t r = 0; r < dims.first; ++r) SoftmaxInPlace(v.data() + r * dims.second, dims.second);
  return Fp32Tensor(t.name, t.shape, v);
}

StatusOr<std::vector<Ranked>> TopKLastDim(const Tensor& t, int64_t k, bool softmax) {
  ASSIGN_OR_RETURN(auto dims, RowsAlongLastDim(t));
  ASSIGN_OR_RETURN(std::vector<double> v, ToDoubles(t));
  auto [rows, c] = dims;
  size_t keep = std::min(static_cast<size_t>(std::max<int64_t>(k, 1)), c);
  std::vector<Ranked> out;
  out.reserve(rows * keep);
  std::vector<size_t> order(c);
  for (size_t r = 0; r < rows; ++r) {
    double* row = v.data() + r * c;
    if (softmax) SoftmaxInPlace(row, c);
    std::iota(order.begin(), order.end(), size_t{0});
    // NaN sorts last, so a broken row still yields its real numbers first.
    auto better = [row](size_t a, size_t b) {
      bool na = std::isnan(row[a]), nb = std::isnan(row[b]);
      if (na != nb) return nb;
      if (!na && row[a] != row[b]) return row[a] > row[b];
      return a < b;
    };
    std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(keep), order.end(),
                      better);
    for (size_t j = 0; j < keep; ++j) {
      out.push_back({static_cast<int64_t>(order[j]), row[order[j]]});
    }
  }
  return out;
}

StatusOr<Tensor> MeanPool(const Tensor& hidden, const Tensor& mask, bool l2) {
  if (hidden.shape.size() != 3 || mask.shape.size() != 2 || hidden.shape[0] != mask.shape[0] ||
      hidden.shape[1] != mask.shape[1]) {
    return Invalid("mean pooling of '" + hidden.name + "' " + ShapeToString(hidden.shape) +
                       " needs its mask '" + mask.name + "' shaped [" +
                       (hidden.shape.size() == 3 ? std::to_string(hidden.shape[0]) + "," +
                                                       std::to_string(hidden.shape[1])
                                                 : std::string("N,T")) +
                       "], got " + ShapeToString(mask.shape),
                   "shape_mismatch");
  }
  ASSIGN_OR_RETURN(std::vector<double> h, ToDoubles(hidden));
  ASSIGN_OR_RETURN(std::vector<double> m, ToDoubles(mask));
  size_t n = static_cast<size_t>(hidden.shape[0]), tokens = static_cast<size_t>(hidden.shape[1]),
         width = static_cast<size_t>(hidden.shape[2]);
  std::vector<double> out(n * width, 0.0);
  for (size_t i = 0; i < n; ++i) {
    double* row = out.data() + i * width;
    double count = 0;
    for (size_t t = 0; t < tokens; ++t) {
      double w = m[i * tokens + t] != 0 ? 1.0 : 0.0;
      if (w == 0) continue;
      count += w;
      const double* src = h.data() + (i * tokens + t) * width;
      for (size_t j = 0; j < width; ++j) row[j] += src[j];
    }
    count = std::max(count, 1e-9);
    for (size_t j = 0; j < width; ++j) row[j] /= count;
    if (l2) {
      double norm = 0;
      for (size_t j = 0; j < width; ++j) norm += row[j] * row[j];
      norm = std::max(std::sqrt(norm), 1e-12);
      for (size_t j = 0; j < width; ++j) row[j] /= norm;
    }
  }
  return Fp32Tensor(hidden.name, {hidden.shape[0], hidden.shape[2]}, out);
}

}  // namespace modelfn
