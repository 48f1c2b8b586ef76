#include "function/input_checks.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

namespace modelfn {
namespace {

Status Invalid(std::string reason, std::string msg) {
  return Status(StatusCode::kInvalidArgument, std::move(msg), std::move(reason));
}

}  // namespace

Status CheckSharedDims(const ModelSchema& schema, const std::vector<Tensor>& inputs) {
  struct Seen {
    int64_t size;
    const std::string* input;
  };
  std::map<std::string, Seen> dims;
  for (size_t i = 0; i < schema.inputs.size() && i < inputs.size(); ++i) {
    const TensorSpec& spec = schema.inputs[i];
    for (size_t d = 0; d < spec.dim_params.size() && d < inputs[i].shape.size(); ++d) {
      const std::string& param = spec.dim_params[d];
      if (param.empty()) continue;
      int64_t size = inputs[i].shape[d];
      auto [it, inserted] = dims.emplace(param, Seen{size, &spec.name});
      if (!inserted && it->second.size != size) {
        return Invalid("shape_mismatch", "inputs '" + *it->second.input + "' and '" + spec.name +
                                             "' share dimension '" + param + "' but have " +
                                             std::to_string(it->second.size) + " and " +
                                             std::to_string(size));
      }
    }
  }
  return Status::Ok();
}

namespace {

template <typename T>
bool FirstOutside(const Tensor& t, double min, double max, size_t* index, double* value) {
  size_t n = t.data.size() / sizeof(T);
  for (size_t i = 0; i < n; ++i) {
    T v;
    memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
    double d = static_cast<double>(v);
    if (!(d >= min && d <= max)) {
      *index = i;
      *value = d;
      return true;
    }
  }
  return false;
}

bool FindOutside(const Tensor& t, double min, double max, size_t* index, double* value) {
  switch (t.dtype) {
    case DType::kUint8:
      return FirstOutside<uint8_t>(t, min, max, index, value);
    case DType::kUint16:
      return FirstOutside<uint16_t>(t, min, max, index, value);
    case DType::kUint32:
      return FirstOutside<uint32_t>(t, min, max, index, value);
    case DType::kUint64:
      return FirstOutside<uint64_t>(t, min, max, index, value);
    case DType::kInt8:
      return FirstOutside<int8_t>(t, min, max, index, value);
    case DType::kInt16:
      return FirstOutside<int16_t>(t, min, max, index, value);
    case DType::kInt32:
      return FirstOutside<int32_t>(t, min, max, index, value);
    case DType::kInt64:
      return FirstOutside<int64_t>(t, min, max, index, value);
    case DType::kFp32:
      return FirstOutside<float>(t, min, max, index, value);
    case DType::kFp64:
      return FirstOutside<double>(t, min, max, index, value);
    default:  // bool, fp16, bytes: the manifest refuses a range for them, fp16 is not checked
      return false;
  }
}

std::string Number(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

Status CheckInputLimits(const Engine& engine, const std::vector<Tensor>& inputs) {
  const ModelSchema& schema = engine.schema();
  for (const InputLimits& l : engine.input_limits()) {
    int idx = schema.InputIndex(l.input);
    if (idx < 0 || static_cast<size_t>(idx) >= inputs.size()) continue;
    const TensorSpec& spec = schema.inputs[static_cast<size_t>(idx)];
    const Tensor& t = inputs[static_cast<size_t>(idx)];
    for (size_t d = 0; d < l.max_shape.size() && d < t.shape.size(); ++d) {
      if (l.max_shape[d] >= 0 && t.shape[d] > l.max_shape[d]) {
        std::string dim = d < spec.dim_params.size() && !spec.dim_params[d].empty()
                              ? "'" + spec.dim_params[d] + "'"
                              : std::to_string(d);
        return Invalid("shape_mismatch", "input '" + l.input + "' dimension " + dim + " is " +
                                             std::to_string(t.shape[d]) +
                                             ", over the model's maximum of " +
                                             std::to_string(l.max_shape[d]));
      }
    }
    size_t index = 0;
    double value = 0;
    if (l.has_range && FindOutside(t, l.min, l.max, &index, &value)) {
      return Invalid("invalid_input", "input '" + l.input + "' holds " + Number(value) +
                                          " at flat index " + std::to_string(index) +
                                          ", outside the model's range [" + Number(l.min) + ", " +
                                          Number(l.max) + "]");
    }
  }
  return Status::Ok();
}

}  // namespace modelfn
