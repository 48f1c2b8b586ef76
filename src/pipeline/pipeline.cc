#include "pipeline/pipeline.h"

#include <cstdint>
#include <cstdio>

#include "common/files.h"
#include "common/sha256.h"
#include "tensor/codec.h"

namespace modelfn {
namespace {

Status Mismatch(const std::string& msg) {
  return Status(StatusCode::kFailedPrecondition, "manifest.json: " + msg, "pipeline_mismatch");
}

// "0.9812:1:positive", the classification extension's element format.
std::string V2Entry(const Ranked& e, const std::vector<std::string>* labels) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.9g:%lld", e.score, static_cast<long long>(e.index));
  std::string s = buf;
  if (labels != nullptr) s += ":" + (*labels)[static_cast<size_t>(e.index)];
  return s;
}

void WriteEntry(const Ranked& e, const std::vector<std::string>* labels, JsonWriter* w) {
  w->BeginObject();
  if (labels != nullptr) w->Key("label").String((*labels)[static_cast<size_t>(e.index)]);
  w->Key("index").Int(e.index);
  w->Key("score").Double(e.score);
  w->EndObject();
}

// Writes rows [*row, ...) nested like outer[dim...]; each row is one entry or a list of k.
void WriteRankedDims(const ReportedOutput& r, size_t dim, size_t* row, JsonWriter* w) {
  if (dim == r.outer_shape.size()) {
    size_t k = static_cast<size_t>(r.k);
    const Ranked* first = r.entries.data() + *row * k;
    if (r.list_per_row) {
      w->BeginArray();
      for (size_t j = 0; j < k; ++j) WriteEntry(first[j], r.labels, w);
      w->EndArray();
    } else {
      WriteEntry(first[0], r.labels, w);
    }
    ++*row;
    return;
  }
  w->BeginArray();
  for (int64_t i = 0; i < r.outer_shape[dim]; ++i) WriteRankedDims(r, dim + 1, row, w);
  w->EndArray();
}

// Reads file `path` (relative to `dir`) that the manifest lists, checking the bytes read against
// its sha256 and size: the very bytes that are then parsed, with no window between check and use.
StatusOr<std::string> ReadListedFile(const Manifest& m, const std::string& dir,
                                     const std::string& path, const char* what) {
  const ManifestFile* listed = nullptr;
  for (const ManifestFile& f : m.files) {
    if (NormalizePath(f.path) == NormalizePath(path)) listed = &f;
  }
  if (listed == nullptr) return Mismatch(std::string(what) + " '" + path + "' is not in 'files'");
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(dir + "/" + listed->path));
  std::string sha = Sha256Hex(bytes);
  if (sha != listed->sha256 || bytes.size() != listed->size) {
    return Status(StatusCode::kDataLoss,
                  listed->path + " does not match manifest.json (expected sha256 " +
                      listed->sha256 + ", found " + sha + "): refusing a modified " + what,
                  "checksum_mismatch");
  }
  return bytes;
}

template <typename T>
void CopyRows(const std::vector<int64_t>& src, size_t first, size_t n, Tensor* t) {
  t->data.resize(n * sizeof(T));
  T* dst = reinterpret_cast<T*>(t->data.data());
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[first + i]);
}

// An image input's tensor is [N, 3, h, w] (NCHW) or [N, h, w, 3] (NHWC): the model's fixed
// dimensions must agree (its rank and float dtype are checked by CheckPipelineMatches).
Status CheckImageInput(const PipelineInput& in, const TensorSpec& model) {
  const ImageSpec& img = in.image;
  bool nchw = img.layout == "NCHW";
  std::vector<int64_t> made = nchw ? std::vector<int64_t>{-1, 3, img.height, img.width}
                                   : std::vector<int64_t>{-1, img.height, img.width, 3};
  for (size_t d = 1; d < 4; ++d) {
    if (model.shape[d] >= 0 && model.shape[d] != made[d]) {
      return Mismatch(
          "pipeline input '" + in.name + "': 'size' [" + std::to_string(img.height) + ", " +
          std::to_string(img.width) + "] in " + img.layout + " makes [N, " +
          (nchw ? "3, " + std::to_string(img.height) + ", " + std::to_string(img.width)
                : std::to_string(img.height) + ", " + std::to_string(img.width) + ", 3") +
          "], but the model takes " + ShapeToString(model.shape));
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<std::string>> ParseLabels(std::string_view text, const std::string& path) {
  auto bad = [&path](const std::string& why) {
    return Status(StatusCode::kInvalidArgument, "labels file '" + path + "': " + why,
                  "invalid_labels");
  };
  if (!IsValidUtf8(text)) return bad("not valid UTF-8 text");
  std::vector<std::string> labels;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return bad("line " + std::to_string(labels.size() + 1) + " is empty");
    labels.emplace_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (labels.empty()) return bad("it holds no labels");
  return labels;
}

StatusOr<std::shared_ptr<const TextTokenizer>> Pipeline::LoadTokenizer(const Manifest& m,
                                                                       const std::string& dir) {
  if (!m.pipeline) return std::shared_ptr<const TextTokenizer>();
  const PipelineInput* first = nullptr;
  for (const PipelineInput& in : m.pipeline->inputs) {
    if (in.source != InputSource::kText) continue;
    if (first == nullptr) {
      first = &in;
    } else if (in.tokenizer != first->tokenizer || in.max_length != first->max_length ||
               in.max_text_bytes != first->max_text_bytes) {
      return Status(StatusCode::kInvalidArgument,
                    "manifest.json: pipeline input '" + in.name +
                        "': every text input must name the same 'tokenizer', 'max_length' and "
                        "'max_text_bytes' as '" +
                        first->name + "'",
                    "invalid_manifest");
    }
  }
  if (first == nullptr) return std::shared_ptr<const TextTokenizer>();
  ASSIGN_OR_RETURN(std::string bytes, ReadListedFile(m, dir, first->tokenizer, "tokenizer file"));
  ASSIGN_OR_RETURN(
      std::unique_ptr<TextTokenizer> tok,
      TextTokenizer::Load(bytes, static_cast<size_t>(first->max_length),
                          "pipeline input '" + first->name + "': " + first->tokenizer));
  return std::shared_ptr<const TextTokenizer>(std::move(tok));
}

StatusOr<std::shared_ptr<const Pipeline>> Pipeline::Load(const Manifest& m,
                                                         const ModelSchema& model,
                                                         const std::string& dir) {
  ASSIGN_OR_RETURN(std::shared_ptr<const TextTokenizer> tok, LoadTokenizer(m, dir));
  return Load(m, model, dir, std::move(tok));
}

StatusOr<std::shared_ptr<const Pipeline>> Pipeline::Load(const Manifest& m,
                                                         const ModelSchema& model,
                                                         const std::string& dir,
                                                         std::shared_ptr<const TextTokenizer> tok) {
  if (!m.pipeline) return std::shared_ptr<const Pipeline>();
  std::vector<std::pair<std::string, std::vector<std::string>>> labels;
  for (const PipelineOutput& out : m.pipeline->outputs) {
    if (out.labels.empty()) continue;
    bool have = false;
    for (const auto& l : labels) have = have || l.first == out.labels;
    if (have) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadListedFile(m, dir, out.labels, "labels file"));
    ASSIGN_OR_RETURN(std::vector<std::string> lines, ParseLabels(bytes, out.labels));
    labels.emplace_back(out.labels, std::move(lines));
  }
  return FromSpec(*m.pipeline, model, std::move(labels), std::move(tok));
}

StatusOr<std::shared_ptr<const Pipeline>> Pipeline::FromSpec(
    PipelineSpec spec, const ModelSchema& model,
    std::vector<std::pair<std::string, std::vector<std::string>>> labels,
    std::shared_ptr<const TextTokenizer> tok) {
  Manifest probe;
  probe.pipeline = spec;
  RETURN_IF_ERROR(CheckPipelineMatches(probe, model));
  std::vector<int> text_field(model.inputs.size(), -1);
  int64_t max_text_bytes = 0;
  std::vector<int> image_of(model.inputs.size(), -1);
  size_t image_inputs = 0;
  for (size_t k = 0; k < spec.inputs.size(); ++k) {
    const PipelineInput& in = spec.inputs[k];
    if (in.source == InputSource::kImage) {
      auto idx = static_cast<size_t>(model.InputIndex(in.name));
      RETURN_IF_ERROR(CheckImageInput(in, model.inputs[idx]));
      image_of[idx] = static_cast<int>(k);
      ++image_inputs;
      continue;
    }
    if (in.source != InputSource::kText) continue;
    if (tok == nullptr) {
      return Status(StatusCode::kUnimplemented,
                    "manifest.json: pipeline input '" + in.name + "': no tokenizer is loaded" +
                        (TextTokenizer::Available()
                             ? std::string()
                             : std::string(" (") + TextTokenizer::UnavailableReason() + ")"),
                    "pipeline_unsupported");
    }
    text_field[static_cast<size_t>(model.InputIndex(in.name))] = in.field == "input_ids"        ? 0
                                                                 : in.field == "attention_mask" ? 1
                                                                                                : 2;
    max_text_bytes = in.max_text_bytes;
  }
  if (max_text_bytes == 0) tok = nullptr;
  for (const PipelineOutput& out : spec.outputs) {
    if (out.labels.empty()) continue;
    const std::vector<std::string>* lines = nullptr;
    for (const auto& l : labels) {
      if (l.first == out.labels) lines = &l.second;
    }
    if (lines == nullptr) return Mismatch("labels file '" + out.labels + "' was not read");
    const TensorSpec& os = model.outputs[static_cast<size_t>(model.OutputIndex(out.name))];
    int64_t classes = os.shape.back();
    if (classes >= 0 && static_cast<int64_t>(lines->size()) != classes) {
      return Mismatch("pipeline output '" + out.name + "': '" + out.labels + "' has " +
                      std::to_string(lines->size()) + " labels but the output has " +
                      std::to_string(classes) + " classes");
    }
  }
  std::shared_ptr<Pipeline> p(new Pipeline());
  p->spec_ = std::move(spec);
  p->model_ = model;
  p->labels_ = std::move(labels);
  p->tokenizer_ = std::move(tok);
  p->text_field_ = std::move(text_field);
  p->max_text_bytes_ = max_text_bytes;
  p->image_of_ = std::move(image_of);
  p->image_inputs_ = image_inputs;
  return std::shared_ptr<const Pipeline>(std::move(p));
}

StatusOr<ReportedOutput> Pipeline::Report(Tensor out, const std::vector<Tensor>& inputs) const {
  ReportedOutput r;
  const PipelineOutput* po = spec_.FindOutput(out.name);
  if (po == nullptr || po->report == OutputReport::kTensor) {
    r.tensor = std::move(out);
    return r;
  }
  auto model_error = [&out](const Status& s) {
    return Status(StatusCode::kInternal,
                  "output '" + out.name + "' cannot be reported as declared: " + s.message(),
                  "model_error");
  };
  switch (po->report) {
    case OutputReport::kTensor:
      break;
    case OutputReport::kSoftmax: {
      auto t = SoftmaxLastDim(out);
      if (!t.ok()) return model_error(t.status());
      r.tensor = std::move(t).value();
      return r;
    }
    case OutputReport::kMeanPool: {
      int idx = model_.InputIndex(po->mask);
      if (idx < 0 || static_cast<size_t>(idx) >= inputs.size()) {
        return model_error(Status(StatusCode::kInternal, "no mask input '" + po->mask + "'"));
      }
      auto t = MeanPool(out, inputs[static_cast<size_t>(idx)], po->normalize);
      if (!t.ok()) return t.status();
      r.tensor = std::move(t).value();
      return r;
    }
    case OutputReport::kArgmax:
    case OutputReport::kTopK: {
      auto entries = TopKLastDim(out, po->k, po->softmax);
      if (!entries.ok()) return model_error(entries.status());
      r.ranked = true;
      r.name = out.name;
      r.outer_shape.assign(out.shape.begin(), out.shape.end() - 1);
      r.k = std::min<int64_t>(po->k, out.shape.back());
      r.list_per_row = po->report == OutputReport::kTopK;
      r.entries = std::move(entries).value();
      if (!po->labels.empty()) {
        for (const auto& l : labels_) {
          if (l.first == po->labels) r.labels = &l.second;
        }
        for (const Ranked& e : r.entries) {
          if (r.labels == nullptr || static_cast<size_t>(e.index) >= r.labels->size()) {
            return model_error(Status(
                StatusCode::kInternal,
                "class " + std::to_string(e.index) + " has no label in '" + po->labels + "'"));
          }
        }
      }
      return r;
    }
  }
  r.tensor = std::move(out);
  return r;
}

TensorSpec Pipeline::ReportedSpec(const TensorSpec& output) const {
  const PipelineOutput* po = spec_.FindOutput(output.name);
  if (po == nullptr || po->report == OutputReport::kTensor || output.shape.empty()) return output;
  TensorSpec s = output;
  auto dims = [&s](std::vector<size_t> keep) {
    std::vector<int64_t> shape;
    std::vector<std::string> params;
    for (size_t i : keep) {
      shape.push_back(s.shape[i]);
      params.push_back(i < s.dim_params.size() ? s.dim_params[i] : std::string());
    }
    s.shape = std::move(shape);
    s.dim_params = std::move(params);
  };
  switch (po->report) {
    case OutputReport::kTensor:
      break;
    case OutputReport::kSoftmax:
      s.dtype = DType::kFp32;
      break;
    case OutputReport::kArgmax:
    case OutputReport::kTopK: {
      s.dtype = DType::kBytes;
      int64_t classes = s.shape.back();
      int64_t k = po->report == OutputReport::kArgmax ? 1 : po->k;
      s.shape.back() = classes >= 0 ? std::min(k, classes) : (k == 1 ? 1 : -1);
      if (!s.dim_params.empty()) s.dim_params.back().clear();
      break;
    }
    case OutputReport::kMeanPool:
      s.dtype = DType::kFp32;
      if (s.shape.size() == 3) dims({0, 2});
      break;
  }
  return s;
}

const char* Pipeline::ReportName(const std::string& output) const {
  const PipelineOutput* po = spec_.FindOutput(output);
  if (po == nullptr || po->report == OutputReport::kTensor) return nullptr;
  return OutputReportName(po->report);
}

StatusOr<std::vector<ReportedOutput>> ReportOutputs(const Pipeline* p, std::vector<Tensor> outputs,
                                                    const std::vector<Tensor>& inputs) {
  std::vector<ReportedOutput> reported;
  reported.reserve(outputs.size());
  for (Tensor& t : outputs) {
    if (p == nullptr) {
      ReportedOutput r;
      r.tensor = std::move(t);
      reported.push_back(std::move(r));
      continue;
    }
    ASSIGN_OR_RETURN(ReportedOutput r, p->Report(std::move(t), inputs));
    reported.push_back(std::move(r));
  }
  return reported;
}

void WriteReportedJson(const ReportedOutput& r, JsonWriter* w) {
  if (!r.ranked) {
    WriteNestedJson(r.tensor, w);
    return;
  }
  size_t row = 0;
  WriteRankedDims(r, 0, &row, w);
}

Tensor ReportedToV2Tensor(ReportedOutput r) {
  if (!r.ranked) return std::move(r.tensor);
  Tensor t;
  t.name = r.name;
  t.dtype = DType::kBytes;
  t.shape = r.outer_shape;
  t.shape.push_back(r.k);
  t.strings.reserve(r.entries.size());
  for (const Ranked& e : r.entries) t.strings.push_back(V2Entry(e, r.labels));
  return t;
}

StatusOr<TokenBatch> Pipeline::Tokenize(const std::vector<std::string_view>& texts) const {
  for (size_t i = 0; i < texts.size(); ++i) {
    if (static_cast<int64_t>(texts[i].size()) > max_text_bytes_) {
      return Status(StatusCode::kInvalidArgument,
                    "text " + std::to_string(i) + " is " + std::to_string(texts[i].size()) +
                        " bytes long; this model accepts at most " +
                        std::to_string(max_text_bytes_) + " bytes per text",
                    "text_too_long");
    }
  }
  return tokenizer_->Encode(texts);
}

void Pipeline::FillTextInputs(const TokenBatch& b, int64_t row0, int64_t rows,
                              std::vector<Tensor>* inputs) const {
  size_t first = static_cast<size_t>(row0 * b.cols);
  size_t n = static_cast<size_t>(rows * b.cols);
  for (size_t i = 0; i < text_field_.size() && i < inputs->size(); ++i) {
    if (text_field_[i] < 0) continue;
    const std::vector<int64_t>& src = text_field_[i] == 0   ? b.input_ids
                                      : text_field_[i] == 1 ? b.attention_mask
                                                            : b.token_type_ids;
    Tensor& t = (*inputs)[i];
    t.name = model_.inputs[i].name;
    t.dtype = model_.inputs[i].dtype;
    t.shape = {rows, b.cols};
    if (t.dtype == DType::kInt32) {
      CopyRows<int32_t>(src, first, n, &t);
    } else {
      CopyRows<int64_t>(src, first, n, &t);
    }
  }
}

const ImageSpec* Pipeline::ImageInput(size_t i) const {
  if (i >= image_of_.size() || image_of_[i] < 0) return nullptr;
  return &spec_.inputs[static_cast<size_t>(image_of_[i])].image;
}

int64_t Pipeline::ImageElements(size_t i, int64_t images) const {
  const ImageSpec* img = ImageInput(i);
  if (img == nullptr || images <= 0) return 0;
  int64_t per = 3 * img->height * img->width;  // at most 3 * 65535^2: no overflow
  if (images > INT64_MAX / per) return INT64_MAX;
  return images * per;
}

StatusOr<Tensor> Pipeline::PrepareImages(size_t i,
                                         const std::vector<std::string_view>& encoded) const {
  const ImageSpec* img = ImageInput(i);
  if (img == nullptr) {
    return Status(StatusCode::kInternal,
                  "input '" + model_.inputs[i].name + "' is not fed from images", "internal");
  }
  ASSIGN_OR_RETURN(Tensor t, ImagesToTensor(encoded, *img, model_.inputs[i].name));
  DType want = model_.inputs[i].dtype;
  if (want == DType::kFp32) return t;
  size_t n = static_cast<size_t>(t.NumElements());
  const float* src = t.As<float>();
  std::vector<uint8_t> data(n * DTypeSize(want));
  if (want == DType::kFp16) {
    auto* dst = reinterpret_cast<uint16_t*>(data.data());
    for (size_t k = 0; k < n; ++k) dst[k] = FloatToHalf(src[k]);
  } else {
    auto* dst = reinterpret_cast<double*>(data.data());
    for (size_t k = 0; k < n; ++k) dst[k] = src[k];
  }
  t.data = std::move(data);
  t.dtype = want;
  return t;
}

}  // namespace modelfn
