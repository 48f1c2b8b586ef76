#include "function/inference.h"

#include <cstdio>
#include <cstring>

#include "function/image_inputs.h"
#include "tensor/codec.h"

namespace modelfn {
namespace {

Status Invalid(std::string reason, std::string msg) {
  return Status(StatusCode::kInvalidArgument, std::move(msg), std::move(reason));
}

std::string InputNames(const ModelSchema& schema) {
  std::string s;
  for (const auto& in : schema.inputs) s += (s.empty() ? "'" : ", '") + in.name + "'";
  return s;
}

Status SelectOutputs(const Json* outputs, const ModelSchema& schema, PreparedInputs* p) {
  if (outputs == nullptr || outputs->is_null()) {
    for (size_t i = 0; i < schema.outputs.size(); ++i) p->outputs.push_back(i);
    return Status::Ok();
  }
  if (!outputs->is_array())
    return Invalid("invalid_request", "'outputs' must be an array of output names");
  for (const Json& o : outputs->AsArray()) {
    if (!o.is_string())
      return Invalid("invalid_request", "'outputs' must be an array of output names");
    int idx = schema.OutputIndex(o.AsString());
    if (idx < 0) return Invalid("unknown_output", "the model has no output '" + o.AsString() + "'");
    // An answer names each output once (a JSON object cannot hold a key twice).
    for (size_t seen : p->outputs) {
      if (seen == static_cast<size_t>(idx)) {
        return Invalid("invalid_request", "'outputs' names '" + o.AsString() + "' twice");
      }
    }
    p->outputs.push_back(static_cast<size_t>(idx));
  }
  if (p->outputs.empty())
    return Invalid("invalid_request", "'outputs' must name at least one output");
  return Status::Ok();
}

Status DecodeSeedInput(const Json& value, const TensorSpec& spec, int64_t* budget, Tensor* t) {
  t->name = spec.name;
  t->dtype = spec.dtype;
  Status s = DecodeNestedJson(value, *budget, t);
  if (!s.ok()) return s.WithContext("input '" + spec.name + "'");
  *budget -= t->NumElements();
  s = CheckShape(spec, *t);
  return s;
}

// A seed request's "inputs" for a text pipeline: a string, or a list of strings. Returns false
// (and leaves *p alone) when `inputs` is not text-shaped at all, so tensors take their usual path.
StatusOr<bool> TakeTexts(const Json& inputs, const ModelSchema& schema, PreparedInputs* p) {
  if (inputs.is_string()) {
    p->texts.push_back(inputs.AsString());
    p->single = true;
  } else if (inputs.is_array()) {
    const Json::Array& a = inputs.AsArray();
    if (a.empty()) return Invalid("invalid_request", "'inputs' holds no texts");
    // A one-input model may still take a nested array of token ids as its tensor.
    if (!a[0].is_string() && schema.inputs.size() == 1) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_string()) {
        return Invalid("text_expected",
                       "'inputs'[" + std::to_string(i) +
                           "] is not a string: this model takes text (a string or a list of "
                           "strings; raw tensors as an object keyed by input name)");
      }
      p->texts.push_back(a[i].AsString());
    }
  } else {
    return false;
  }
  p->text = true;
  p->inputs.resize(schema.inputs.size());
  return true;
}

}  // namespace

void DropSingleBatchDim(const PreparedInputs& p, std::vector<ReportedOutput>* outputs) {
  if (!p.single) return;
  for (ReportedOutput& r : *outputs) {
    std::vector<int64_t>& shape = r.ranked ? r.outer_shape : r.tensor.shape;
    if (!shape.empty() && shape[0] == 1) shape.erase(shape.begin());
  }
}

Status EncodeTextInputs(const Pipeline& pipeline, PreparedInputs* p, int64_t* budget) {
  if (!p->text) return Status::Ok();
  std::vector<std::string_view> views(p->texts.begin(), p->texts.end());
  ASSIGN_OR_RETURN(TokenBatch b, pipeline.Tokenize(views));
  int64_t fed = 0;
  for (size_t i = 0; i < p->inputs.size(); ++i) fed += pipeline.IsTextInput(i) ? 1 : 0;
  int64_t elements = b.rows * b.cols * fed;
  if (elements > *budget) {
    return Status(StatusCode::kResourceExhausted,
                  "the texts make " + std::to_string(elements) +
                      " token elements, over the request's limit of " + std::to_string(*budget),
                  "too_many_elements");
  }
  *budget -= elements;
  pipeline.FillTextInputs(b, 0, b.rows, &p->inputs);
  return Status::Ok();
}

StatusOr<std::vector<Tensor>> RunPrepared(Engine& engine, const PreparedInputs& prepared,
                                          const RunLimits& limits) {
  RETURN_IF_ERROR(CheckInputLimits(engine, prepared.inputs));
  std::vector<const Tensor*> ptrs;
  ptrs.reserve(prepared.inputs.size());
  for (const Tensor& t : prepared.inputs) ptrs.push_back(&t);
  auto result = engine.Run(ptrs, prepared.outputs, limits);
  std::string reason = result.ok() ? std::string() : result.status().reason();
  if (reason != "model_error" && reason != "invalid_input") return result;
  for (const Tensor& t : prepared.inputs) {
    for (int64_t d : t.shape) {
      if (d == 0) {
        return Invalid("shape_mismatch",
                       "input '" + t.name + "' has shape " + ShapeToString(t.shape) +
                           " with a zero-length dimension, which this model cannot run on");
      }
    }
  }
  return result;
}

std::string SpecShapeString(const TensorSpec& spec) {
  std::string s = "[";
  for (size_t i = 0; i < spec.shape.size(); ++i) {
    if (i) s += ",";
    if (spec.shape[i] >= 0) {
      s += std::to_string(spec.shape[i]);
    } else if (i < spec.dim_params.size() && !spec.dim_params[i].empty()) {
      s += spec.dim_params[i];
    } else {
      s += "?";
    }
  }
  return s + "]";
}

Status CheckShape(const TensorSpec& spec, const Tensor& t) {
  bool ok = spec.shape.size() == t.shape.size();
  for (size_t i = 0; ok && i < spec.shape.size(); ++i) {
    ok = spec.shape[i] < 0 || spec.shape[i] == t.shape[i];
  }
  if (ok) return Status::Ok();
  std::string hint;
  if (t.shape.size() + 1 == spec.shape.size())
    hint = "; wrap a single example in a list to make a batch of one";
  return Invalid("shape_mismatch", "input '" + spec.name + "' expects shape " +
                                       SpecShapeString(spec) + ", got " + ShapeToString(t.shape) +
                                       hint);
}

StatusOr<PreparedInputs> PrepareSeedRequest(const Json& body, const ModelSchema& schema,
                                            int64_t* budget, const Pipeline* pipeline) {
  if (!body.is_object())
    return Invalid("invalid_request", "the request body must be a JSON object");
  const Json* inputs = body.Find("inputs");
  if (inputs == nullptr) return Invalid("invalid_request", "the request body has no 'inputs'");
  PreparedInputs p;
  if (pipeline != nullptr && pipeline->has_text()) {
    ASSIGN_OR_RETURN(bool text, TakeTexts(*inputs, schema, &p));
    if (text) {
      RETURN_IF_ERROR(SelectOutputs(body.Find("outputs"), schema, &p));
      return p;
    }
  }
  const bool images = pipeline != nullptr && pipeline->has_images();
  if (images) {
    ASSIGN_OR_RETURN(bool taken, TakeSeedImages(*inputs, *pipeline, budget, &p));
    if (taken) {
      RETURN_IF_ERROR(SelectOutputs(body.Find("outputs"), schema, &p));
      return p;
    }
  }
  p.inputs.resize(schema.inputs.size());
  if (inputs->is_object()) {
    std::vector<bool> seen(schema.inputs.size(), false);
    for (const auto& [name, value] : inputs->AsObject()) {
      int idx = schema.InputIndex(name);
      if (idx < 0) {
        return Invalid("unknown_input", "the model has no input '" + name + "'; its inputs are " +
                                            InputNames(schema));
      }
      auto i = static_cast<size_t>(idx);
      if (images && pipeline->ImageInput(i) != nullptr && IsImageValue(value)) {
        RETURN_IF_ERROR(ImageValue(value, *pipeline, i, budget, &p.inputs[i]));
      } else {
        RETURN_IF_ERROR(DecodeSeedInput(value, schema.inputs[i], budget, &p.inputs[i]));
      }
      seen[static_cast<size_t>(idx)] = true;
    }
    for (size_t i = 0; i < seen.size(); ++i) {
      if (!seen[i])
        return Invalid("missing_input", "input '" + schema.inputs[i].name + "' is missing");
    }
  } else if (inputs->is_array()) {
    if (schema.inputs.size() != 1) {
      return Invalid("invalid_request", "the model has " + std::to_string(schema.inputs.size()) +
                                            " inputs (" + InputNames(schema) +
                                            "): send \"inputs\" as an object keyed by input name");
    }
    RETURN_IF_ERROR(DecodeSeedInput(*inputs, schema.inputs[0], budget, &p.inputs[0]));
  } else {
    return Invalid("invalid_request",
                   "'inputs' must be an array (one-input model) or an object of named inputs");
  }
  RETURN_IF_ERROR(CheckSharedDims(schema, p.inputs));
  RETURN_IF_ERROR(SelectOutputs(body.Find("outputs"), schema, &p));
  return p;
}

void WriteSeedOutputs(const std::vector<Tensor>& outputs, JsonWriter* w) {
  w->Key("outputs").BeginObject();
  for (const Tensor& t : outputs) {
    w->Key(t.name);
    WriteNestedJson(t, w);
  }
  w->EndObject();
}

void WriteSeedOutputs(const std::vector<ReportedOutput>& outputs, JsonWriter* w) {
  w->Key("outputs").BeginObject();
  for (const ReportedOutput& r : outputs) {
    w->Key(r.ranked ? r.name : r.tensor.name);
    WriteReportedJson(r, w);
  }
  w->EndObject();
}

StatusOr<PreparedInputs> PrepareV2Request(const Json& header, std::string_view binary,
                                          const ModelSchema& schema, int64_t max_elements,
                                          const Pipeline* pipeline) {
  if (!header.is_object()) return Invalid("invalid_request", "the request must be a JSON object");
  const Json* inputs = header.Find("inputs");
  if (inputs == nullptr || !inputs->is_array()) {
    return Invalid("invalid_request", "the request needs an 'inputs' array");
  }
  PreparedInputs p;
  p.inputs.resize(schema.inputs.size());
  std::vector<bool> seen(schema.inputs.size(), false);
  size_t binary_pos = 0;
  int64_t budget = max_elements;
  for (const Json& in : inputs->AsArray()) {
    const Json* name = in.Find("name");
    const Json* shape = in.Find("shape");
    const Json* datatype = in.Find("datatype");
    if (!name || !name->is_string())
      return Invalid("invalid_request", "every input needs a 'name' string");
    const std::string& n = name->AsString();
    int idx = schema.InputIndex(n);
    if (idx < 0) {
      return Invalid("unknown_input",
                     "the model has no input '" + n + "'; its inputs are " + InputNames(schema));
    }
    const TensorSpec& spec = schema.inputs[static_cast<size_t>(idx)];
    if (seen[static_cast<size_t>(idx)])
      return Invalid("invalid_request", "input '" + n + "' is given twice");
    seen[static_cast<size_t>(idx)] = true;
    if (!datatype || !datatype->is_string())
      return Invalid("invalid_request", "input '" + n + "' needs a 'datatype'");
    auto dt = DTypeFromName(datatype->AsString());
    if (!dt)
      return Invalid("dtype_mismatch",
                     "input '" + n + "': unknown datatype '" + datatype->AsString() + "'");
    bool text_in = pipeline != nullptr && pipeline->has_text() && *dt == DType::kBytes &&
                   spec.dtype != DType::kBytes && pipeline->IsTextInput(static_cast<size_t>(idx));
    bool image_in = pipeline != nullptr && *dt == DType::kBytes &&
                    pipeline->ImageInput(static_cast<size_t>(idx)) != nullptr;
    if (text_in && p.text) {
      return Invalid("invalid_request",
                     "input '" + n + "': the texts are given already (in one BYTES input)");
    }
    if (*dt != spec.dtype && !text_in && !image_in) {
      return Invalid("dtype_mismatch", "input '" + n + "' has datatype " + DTypeName(spec.dtype) +
                                           ", not " + datatype->AsString());
    }
    if (!shape || !shape->is_array())
      return Invalid("invalid_request", "input '" + n + "' needs a 'shape' array");
    Tensor& t = p.inputs[static_cast<size_t>(idx)];
    t.name = n;
    t.dtype = *dt;
    for (const Json& d : shape->AsArray()) {
      if (!d.is_integral() || d.is_negative_integral() || !d.fits_int64()) {
        return Invalid("shape_mismatch",
                       "input '" + n + "': shape dimensions must be non-negative integers");
      }
      t.shape.push_back(d.AsInt64());
    }
    if (text_in) {
      if (t.shape.empty() || t.shape.size() > 2 || (t.shape.size() == 2 && t.shape[1] != 1)) {
        return Invalid("shape_mismatch", "input '" + n + "': texts go in a BYTES tensor of shape " +
                                             "[N] or [N, 1], got " + ShapeToString(t.shape));
      }
    } else if (!image_in) {
      RETURN_IF_ERROR(CheckShape(spec, t));
    }
    const Json* params = in.Find("parameters");
    const Json* bsize = params ? params->Find("binary_data_size") : nullptr;
    const Json* data = in.Find("data");
    Status s;
    if (bsize != nullptr) {
      if (!bsize->is_integral() || bsize->is_negative_integral()) {
        return Invalid("invalid_request",
                       "input '" + n + "': binary_data_size must be a non-negative integer");
      }
      uint64_t size = bsize->AsUint64();
      if (size > binary.size() - binary_pos) {
        return Invalid("invalid_request", "input '" + n + "': binary_data_size " +
                                              std::to_string(size) +
                                              " runs past the end of the binary data");
      }
      s = DecodeBinaryData(binary.substr(binary_pos, size), budget, &t);
      binary_pos += size;
    } else if (data != nullptr) {
      s = DecodeJsonData(*data, budget, &t);
    } else {
      return Invalid("invalid_request", "input '" + n + "' has neither 'data' nor binary data");
    }
    if (!s.ok()) return s.WithContext("input '" + n + "'");
    budget -= t.NumElements();
    if (image_in) {
      RETURN_IF_ERROR(
          V2ImageInput(*pipeline, static_cast<size_t>(idx), bsize == nullptr, &budget, &t));
    }
    if (text_in) {
      p.text = true;
      p.texts = std::move(t.strings);
      t = Tensor();
    }
  }
  if (binary_pos != binary.size()) {
    return Invalid("invalid_request", std::to_string(binary.size() - binary_pos) +
                                          " bytes of binary data are not claimed by any input");
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (p.text && pipeline->IsTextInput(i)) continue;
    if (!seen[i])
      return Invalid("missing_input", "input '" + schema.inputs[i].name + "' is missing");
  }
  if (!p.text) RETURN_IF_ERROR(CheckSharedDims(schema, p.inputs));
  bool all_binary = false;
  if (const Json* params = header.Find("parameters")) {
    if (const Json* b = params->Find("binary_data_output"); b && b->is_bool())
      all_binary = b->AsBool();
  }
  const Json* outputs = header.Find("outputs");
  if (outputs == nullptr || outputs->is_null()) {
    for (size_t i = 0; i < schema.outputs.size(); ++i) {
      p.outputs.push_back(i);
      p.binary_outputs.push_back(all_binary);
    }
    return p;
  }
  if (!outputs->is_array()) return Invalid("invalid_request", "'outputs' must be an array");
  for (const Json& o : outputs->AsArray()) {
    const Json* name = o.Find("name");
    if (!name || !name->is_string())
      return Invalid("invalid_request", "every requested output needs a 'name'");
    int idx = schema.OutputIndex(name->AsString());
    if (idx < 0)
      return Invalid("unknown_output", "the model has no output '" + name->AsString() + "'");
    for (size_t earlier : p.outputs) {
      if (earlier == static_cast<size_t>(idx)) {
        return Invalid("invalid_request", "'outputs' names '" + name->AsString() + "' twice");
      }
    }
    bool bin = all_binary;
    if (const Json* params = o.Find("parameters")) {
      if (const Json* b = params->Find("binary_data"); b && b->is_bool()) bin = b->AsBool();
      if (params->Find("classification") != nullptr) {
        return Status(StatusCode::kUnimplemented, "the classification extension is not supported",
                      "invalid_request");
      }
    }
    p.outputs.push_back(static_cast<size_t>(idx));
    p.binary_outputs.push_back(bin);
  }
  return p;
}

std::optional<size_t> WriteV2Response(std::string_view model_name, std::string_view version,
                                      const Json* request_id, const std::vector<Tensor>& outputs,
                                      const std::vector<bool>& binary, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("model_name").String(model_name);
  w.Key("model_version").String(version);
  if (request_id != nullptr && request_id->is_string()) w.Key("id").String(request_id->AsString());
  w.Key("outputs").BeginArray();
  bool any_binary = false;
  std::vector<size_t> sizes(outputs.size(), 0);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = outputs[i];
    w.BeginObject();
    w.Key("name").String(t.name);
    w.Key("datatype").String(DTypeName(t.dtype));
    w.Key("shape").BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    w.EndArray();
    if (i < binary.size() && binary[i]) {
      any_binary = true;
      size_t size = t.dtype == DType::kBytes ? 0 : t.data.size();
      if (t.dtype == DType::kBytes) {
        for (const auto& s : t.strings) size += 4 + s.size();
      }
      w.Key("parameters").BeginObject().Key("binary_data_size").Uint(size).EndObject();
    } else {
      w.Key("data");
      WriteFlatJson(t, &w);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  if (!any_binary) return std::nullopt;
  size_t header_len = out->size();
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (i < binary.size() && binary[i]) AppendBinaryData(outputs[i], out);
  }
  return header_len;
}

}  // namespace modelfn
