#include "manifest/pipeline_spec.h"

#include <cmath>
#include <initializer_list>
#include <string_view>
#include <unordered_set>

namespace modelfn {
namespace {

Status Bad(const std::string& where, const std::string& why) {
  return Status(StatusCode::kInvalidArgument, "manifest.json: " + where + ": " + why,
                "invalid_manifest");
}

// Refuses members outside `known`, so a misspelt option is an error rather than silently ignored.
Status OnlyKnown(const Json& e, const std::string& where,
                 std::initializer_list<const char*> known) {
  for (const auto& [key, value] : e.AsObject()) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok) return Bad(where, "unknown field '" + key + "'");
  }
  return Status::Ok();
}

StatusOr<std::string> OptString(const Json& e, const char* key, const std::string& where) {
  const Json* v = e.Find(key);
  if (v == nullptr) return std::string();
  if (!v->is_string() || v->AsString().empty()) {
    return Bad(where, std::string("'") + key + "' must be a non-empty string");
  }
  return v->AsString();
}

StatusOr<int64_t> OptInt(const Json& e, const char* key, int64_t min, int64_t dflt,
                         const std::string& where) {
  const Json* v = e.Find(key);
  if (v == nullptr) return dflt;
  if (!v->is_integral() || !v->fits_int64() || v->AsInt64() < min) {
    return Bad(where, std::string("'") + key + "' must be an integer >= " + std::to_string(min));
  }
  return v->AsInt64();
}

// A file named by the section: relative, inside the version (the same rule as "files" paths).
Status CheckFileName(const std::string& path, const char* key, const std::string& where) {
  if (path[0] == '/' || path.find("..") != std::string::npos) {
    return Bad(where, std::string("'") + key + "' must be a relative path inside the version");
  }
  return Status::Ok();
}

Status ParseTriple(const Json& e, const char* key, std::array<double, 3>* out,
                   const std::string& where) {
  const Json* v = e.Find(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_array() || v->AsArray().size() != 3) {
    return Bad(where, std::string("'") + key + "' must be an array of 3 numbers");
  }
  for (size_t i = 0; i < 3; ++i) {
    if (!v->AsArray()[i].is_number()) {
      return Bad(where, std::string("'") + key + "' must be an array of 3 numbers");
    }
    (*out)[i] = v->AsArray()[i].AsDouble();
  }
  return Status::Ok();
}

Status ParseImage(const Json& e, ImageSpec* img, const std::string& where) {
  ASSIGN_OR_RETURN(std::string layout, OptString(e, "layout", where));
  if (!layout.empty()) img->layout = layout;
  if (img->layout != "NCHW" && img->layout != "NHWC") {
    return Bad(where, "'layout' must be \"NCHW\" or \"NHWC\"");
  }
  ASSIGN_OR_RETURN(std::string color, OptString(e, "color", where));
  if (!color.empty()) img->color = color;
  if (img->color != "RGB" && img->color != "BGR") {
    return Bad(where, "'color' must be \"RGB\" or \"BGR\"");
  }
  const Json* size = e.Find("size");
  if (size == nullptr || !size->is_array() || size->AsArray().size() != 2 ||
      !size->AsArray()[0].is_integral() || !size->AsArray()[1].is_integral() ||
      size->AsArray()[0].AsInt64() < 1 || size->AsArray()[1].AsInt64() < 1 ||
      size->AsArray()[0].AsInt64() > 65535 || size->AsArray()[1].AsInt64() > 65535) {
    return Bad(where, "'size' must be [height, width], each an integer from 1 to 65535");
  }
  img->height = size->AsArray()[0].AsInt64();
  img->width = size->AsArray()[1].AsInt64();
  RETURN_IF_ERROR(ParseTriple(e, "mean", &img->mean, where));
  RETURN_IF_ERROR(ParseTriple(e, "std", &img->std, where));
  for (double s : img->std) {
    if (!(s > 0)) return Bad(where, "every 'std' entry must be > 0");
  }
  if (const Json* s = e.Find("scale")) {
    if (!s->is_number() || !(s->AsDouble() > 0) || !std::isfinite(s->AsDouble())) {
      return Bad(where, "'scale' must be a number > 0");
    }
    img->scale = s->AsDouble();
  }
  ASSIGN_OR_RETURN(img->max_width, OptInt(e, "max_width", 1, img->max_width, where));
  ASSIGN_OR_RETURN(img->max_height, OptInt(e, "max_height", 1, img->max_height, where));
  ASSIGN_OR_RETURN(img->max_pixels, OptInt(e, "max_pixels", 1, img->max_pixels, where));
  ASSIGN_OR_RETURN(std::string resize, OptString(e, "resize", where));
  if (!resize.empty()) img->resize = resize;
  if (img->resize != "bilinear" && img->resize != "bicubic" && img->resize != "nearest") {
    return Bad(where, "'resize' must be \"bilinear\", \"bicubic\" or \"nearest\"");
  }
  return Status::Ok();
}

Status ParseInput(const Json& e, const std::string& at, PipelineInput* in) {
  if (!e.is_object()) return Bad(at, "must be an object");
  const Json* name = e.Find("name");
  if (name == nullptr || !name->is_string() || name->AsString().empty()) {
    return Bad(at, "needs a 'name' (a model input)");
  }
  in->name = name->AsString();
  std::string where = at + " '" + in->name + "'";
  ASSIGN_OR_RETURN(std::string source, OptString(e, "source", where));
  if (source.empty() || source == "tensor") {
    in->source = InputSource::kTensor;
    return OnlyKnown(e, where, {"name", "source"});
  }
  if (source == "text") {
    in->source = InputSource::kText;
    RETURN_IF_ERROR(OnlyKnown(
        e, where, {"name", "source", "tokenizer", "field", "max_length", "max_text_bytes"}));
    ASSIGN_OR_RETURN(in->tokenizer, OptString(e, "tokenizer", where));
    if (in->tokenizer.empty()) return Bad(where, "a text input needs a 'tokenizer' file");
    RETURN_IF_ERROR(CheckFileName(in->tokenizer, "tokenizer", where));
    ASSIGN_OR_RETURN(in->field, OptString(e, "field", where));
    if (in->field.empty()) in->field = in->name;
    if (in->field != "input_ids" && in->field != "attention_mask" &&
        in->field != "token_type_ids") {
      return Bad(where, "'field' must be \"input_ids\", \"attention_mask\" or \"token_type_ids\"");
    }
    ASSIGN_OR_RETURN(in->max_length, OptInt(e, "max_length", 1, 0, where));
    ASSIGN_OR_RETURN(in->max_text_bytes, OptInt(e, "max_text_bytes", 1, in->max_text_bytes, where));
    return Status::Ok();
  }
  if (source == "image") {
    in->source = InputSource::kImage;
    RETURN_IF_ERROR(OnlyKnown(e, where,
                              {"name", "source", "layout", "color", "size", "mean", "std", "scale",
                               "max_width", "max_height", "max_pixels", "resize"}));
    return ParseImage(e, &in->image, where);
  }
  return Bad(where, "'source' must be \"tensor\", \"text\" or \"image\"");
}

Status ParseOutput(const Json& e, const std::string& at, PipelineOutput* out) {
  if (!e.is_object()) return Bad(at, "must be an object");
  const Json* name = e.Find("name");
  if (name == nullptr || !name->is_string() || name->AsString().empty()) {
    return Bad(at, "needs a 'name' (a model output)");
  }
  out->name = name->AsString();
  std::string where = at + " '" + out->name + "'";
  ASSIGN_OR_RETURN(std::string report, OptString(e, "report", where));
  if (report.empty() || report == "tensor") {
    out->report = OutputReport::kTensor;
    return OnlyKnown(e, where, {"name", "report"});
  }
  if (report == "softmax") {
    out->report = OutputReport::kSoftmax;
    return OnlyKnown(e, where, {"name", "report"});
  }
  if (report == "argmax" || report == "top_k") {
    bool top_k = report == "top_k";
    out->report = top_k ? OutputReport::kTopK : OutputReport::kArgmax;
    if (top_k) {
      RETURN_IF_ERROR(OnlyKnown(e, where, {"name", "report", "labels", "k", "scores"}));
      if (e.Find("k") == nullptr) return Bad(where, "a top_k report needs 'k'");
      ASSIGN_OR_RETURN(out->k, OptInt(e, "k", 1, 1, where));
    } else {
      RETURN_IF_ERROR(OnlyKnown(e, where, {"name", "report", "labels", "scores"}));
      out->k = 1;
    }
    ASSIGN_OR_RETURN(out->labels, OptString(e, "labels", where));
    if (!out->labels.empty()) RETURN_IF_ERROR(CheckFileName(out->labels, "labels", where));
    ASSIGN_OR_RETURN(std::string scores, OptString(e, "scores", where));
    if (!scores.empty() && scores != "softmax" && scores != "raw") {
      return Bad(where, "'scores' must be \"softmax\" or \"raw\"");
    }
    out->softmax = scores != "raw";
    return Status::Ok();
  }
  if (report == "mean_pool") {
    out->report = OutputReport::kMeanPool;
    RETURN_IF_ERROR(OnlyKnown(e, where, {"name", "report", "mask", "normalize"}));
    ASSIGN_OR_RETURN(out->mask, OptString(e, "mask", where));
    if (out->mask.empty()) return Bad(where, "a mean_pool report needs 'mask' (a model input)");
    ASSIGN_OR_RETURN(std::string norm, OptString(e, "normalize", where));
    if (!norm.empty() && norm != "l2" && norm != "none") {
      return Bad(where, "'normalize' must be \"l2\" or \"none\"");
    }
    out->normalize = norm != "none";
    return Status::Ok();
  }
  return Bad(where,
             "'report' must be \"tensor\", \"softmax\", \"top_k\", \"argmax\" or \"mean_pool\"");
}

}  // namespace

const char* InputSourceName(InputSource s) {
  switch (s) {
    case InputSource::kText:
      return "text";
    case InputSource::kImage:
      return "image";
    case InputSource::kTensor:
      break;
  }
  return "tensor";
}

const char* OutputReportName(OutputReport r) {
  switch (r) {
    case OutputReport::kSoftmax:
      return "softmax";
    case OutputReport::kTopK:
      return "top_k";
    case OutputReport::kArgmax:
      return "argmax";
    case OutputReport::kMeanPool:
      return "mean_pool";
    case OutputReport::kTensor:
      break;
  }
  return "tensor";
}

const PipelineInput* PipelineSpec::FindInput(const std::string& name) const {
  for (const PipelineInput& in : inputs) {
    if (in.name == name) return &in;
  }
  return nullptr;
}

const PipelineOutput* PipelineSpec::FindOutput(const std::string& name) const {
  for (const PipelineOutput& out : outputs) {
    if (out.name == name) return &out;
  }
  return nullptr;
}

std::vector<std::string> PipelineSpec::Files() const {
  std::vector<std::string> files;
  auto add = [&files](const std::string& f) {
    if (f.empty()) return;
    for (const std::string& have : files) {
      if (have == f) return;
    }
    files.push_back(f);
  };
  for (const PipelineInput& in : inputs) add(in.tokenizer);
  for (const PipelineOutput& out : outputs) add(out.labels);
  return files;
}

StatusOr<PipelineSpec> ParsePipeline(const Json& value) {
  if (!value.is_object()) return Bad("pipeline", "must be an object");
  RETURN_IF_ERROR(OnlyKnown(value, "pipeline", {"version", "inputs", "outputs"}));
  PipelineSpec spec;
  const Json* version = value.Find("version");
  if (version == nullptr || !version->is_integral() || version->AsInt64() != 1) {
    return Bad("pipeline", "'version' must be 1 (the only version this runtime reads)");
  }
  std::unordered_set<std::string> seen;
  if (const Json* inputs = value.Find("inputs")) {
    if (!inputs->is_array()) return Bad("pipeline", "'inputs' must be an array");
    for (size_t i = 0; i < inputs->AsArray().size(); ++i) {
      PipelineInput in;
      RETURN_IF_ERROR(
          ParseInput(inputs->AsArray()[i], "pipeline.inputs[" + std::to_string(i) + "]", &in));
      if (!seen.insert(in.name).second) {
        return Bad("pipeline.inputs", "input '" + in.name + "' is listed twice");
      }
      spec.inputs.push_back(std::move(in));
    }
  }
  seen.clear();
  if (const Json* outputs = value.Find("outputs")) {
    if (!outputs->is_array()) return Bad("pipeline", "'outputs' must be an array");
    for (size_t i = 0; i < outputs->AsArray().size(); ++i) {
      PipelineOutput out;
      RETURN_IF_ERROR(
          ParseOutput(outputs->AsArray()[i], "pipeline.outputs[" + std::to_string(i) + "]", &out));
      if (!seen.insert(out.name).second) {
        return Bad("pipeline.outputs", "output '" + out.name + "' is listed twice");
      }
      spec.outputs.push_back(std::move(out));
    }
  }
  return spec;
}

void WritePipeline(const PipelineSpec& spec, JsonWriter* w) {
  w->BeginObject();
  w->Key("version").Int(spec.version);
  w->Key("inputs").BeginArray();
  for (const PipelineInput& in : spec.inputs) {
    w->BeginObject().Key("name").String(in.name).Key("source").String(InputSourceName(in.source));
    if (in.source == InputSource::kText) {
      w->Key("tokenizer").String(in.tokenizer).Key("field").String(in.field);
      if (in.max_length > 0) w->Key("max_length").Int(in.max_length);
      if (in.max_text_bytes != PipelineInput().max_text_bytes)
        w->Key("max_text_bytes").Int(in.max_text_bytes);
    } else if (in.source == InputSource::kImage) {
      const ImageSpec& img = in.image;
      w->Key("layout").String(img.layout).Key("color").String(img.color);
      w->Key("size").BeginArray().Int(img.height).Int(img.width).EndArray();
      w->Key("mean").BeginArray();
      for (double v : img.mean) w->Double(v);
      w->EndArray().Key("std").BeginArray();
      for (double v : img.std) w->Double(v);
      w->EndArray();
      w->Key("scale").Double(img.scale);
      w->Key("max_width").Int(img.max_width).Key("max_height").Int(img.max_height);
      w->Key("max_pixels").Int(img.max_pixels);
      w->Key("resize").String(img.resize);
    }
    w->EndObject();
  }
  w->EndArray();
  w->Key("outputs").BeginArray();
  for (const PipelineOutput& out : spec.outputs) {
    w->BeginObject().Key("name").String(out.name).Key("report").String(
        OutputReportName(out.report));
    if (out.report == OutputReport::kTopK) w->Key("k").Int(out.k);
    if (out.report == OutputReport::kTopK || out.report == OutputReport::kArgmax) {
      if (!out.labels.empty()) w->Key("labels").String(out.labels);
      if (!out.softmax) w->Key("scores").String("raw");
    }
    if (out.report == OutputReport::kMeanPool) {
      w->Key("mask").String(out.mask);
      if (!out.normalize) w->Key("normalize").String("none");
    }
    w->EndObject();
  }
  w->EndArray();
  w->EndObject();
}

}  // namespace modelfn
