// A model version's pipeline, loaded: the manifest's "pipeline" section checked against the model,
// with the files it names (label files) read from exactly the bytes whose sha256 the manifest
// lists. Sits between the handler core and the engine; knows no transport.
//
// It reports outputs (softmax, top-k, argmax with labels, mean pooling), feeds text inputs
// through a tokenizer.json (TextTokenizer) and image inputs from encoded JPEG, PNG or WebP images
// (image_preprocess.h); text inputs in a build without the tokenizer are refused at load with
// reason "pipeline_unsupported".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "manifest/manifest.h"
#include "pipeline/image_preprocess.h"
#include "pipeline/postprocess.h"
#include "pipeline/text_tokenizer.h"
#include "tensor/schema.h"
#include "tensor/tensor.h"

namespace modelfn {

// One model output as the pipeline reports it: either a tensor (raw, softmax, mean pooled) or a
// ranking (argmax, top_k) of `k` entries per row over the output's leading dimensions.
struct ReportedOutput {
  bool ranked = false;
  Tensor tensor;                     // !ranked
  std::string name;                  // ranked: the output's name
  std::vector<int64_t> outer_shape;  // ranked: the output's shape without its last dimension
  int64_t k = 1;                     // ranked: entries per row
  bool list_per_row = false;         // ranked: top_k (a list per row) rather than argmax (one)
  std::vector<Ranked> entries;       // ranked: rows * k, row-major
  const std::vector<std::string>* labels = nullptr;  // ranked: names by index; null: none
};

class Pipeline {
 public:
  // Loads m.pipeline (nullptr result when the manifest has none) for a model whose schema is
  // `model`, reading label files from `dir`. Errors: FailedPrecondition "pipeline_mismatch"
  // (CheckPipelineMatches; a labels file whose line count differs from the output's fixed last
  // dimension; an image input whose fixed dimensions differ from its size and layout);
  // Unimplemented "pipeline_unsupported" (text inputs in a build without the tokenizer); DataLoss
  // "checksum_mismatch" when a file's bytes differ from the manifest; InvalidArgument
  // "invalid_labels" for a labels file that is not UTF-8 text or has an empty line; NotFound.
  static StatusOr<std::shared_ptr<const Pipeline>> Load(const Manifest& m, const ModelSchema& model,
                                                        const std::string& dir);
  // The same with the tokenizer already loaded by LoadTokenizer (which needs no model schema, so
  // a loader may run it while the model session is being created).
  static StatusOr<std::shared_ptr<const Pipeline>> Load(const Manifest& m, const ModelSchema& model,
                                                        const std::string& dir,
                                                        std::shared_ptr<const TextTokenizer> tok);

  // Loads the tokenizer file the pipeline's text inputs name, from `dir`, hashing exactly the bytes
  // it parses; nullptr when no input is text. Errors: InvalidArgument "invalid_manifest" (text
  // inputs naming different tokenizers or max_length values, or a file not in 'files'); DataLoss
  // "checksum_mismatch"; InvalidArgument "invalid_tokenizer"; Unimplemented
  // "pipeline_unsupported" when the build has no tokenizer; NotFound.
  static StatusOr<std::shared_ptr<const TextTokenizer>> LoadTokenizer(const Manifest& m,
                                                                      const std::string& dir);

  // Builds a pipeline from a parsed spec and labels already in memory (labels[path] = lines).
  // For tests and tools; the same checks as Load except file reading.
  // Text inputs need `tok` (pipeline_unsupported without one).
  static StatusOr<std::shared_ptr<const Pipeline>> FromSpec(
      PipelineSpec spec, const ModelSchema& model,
      std::vector<std::pair<std::string, std::vector<std::string>>> labels,
      std::shared_ptr<const TextTokenizer> tok = nullptr);

  // True when model inputs are fed from text: requests then carry texts for them.
  bool has_text() const { return tokenizer_ != nullptr; }
  // Whether schema input `i` is fed from text.
  bool IsTextInput(size_t i) const { return i < text_field_.size() && text_field_[i] >= 0; }

  // Encodes texts as one batch (padded to the longest, truncated as the manifest says). Errors:
  // InvalidArgument with reason "text_too_long" (a text over max_text_bytes, naming its index) or
  // "invalid_text" (TextTokenizer::Encode).
  StatusOr<TokenBatch> Tokenize(const std::vector<std::string_view>& texts) const;
  // Sets every text-fed input of *inputs (schema order, sized like the schema) to rows
  // [row0, row0 + rows) of `b`, as [rows, b.cols] tensors of the input's dtype (INT64 or INT32).
  void FillTextInputs(const TokenBatch& b, int64_t row0, int64_t rows,
                      std::vector<Tensor>* inputs) const;

  // True when some model input is fed from encoded images.
  bool has_images() const { return image_inputs_ > 0; }
  // How many schema inputs are fed from images.
  size_t image_inputs() const { return image_inputs_; }
  // The image spec of schema input `i`, or nullptr when it is not fed from images.
  const ImageSpec* ImageInput(size_t i) const;
  // Elements of the tensor `images` encoded images make for schema input `i` (an image input):
  // images * 3 * height * width, saturating at INT64_MAX.
  int64_t ImageElements(size_t i, int64_t images) const;
  // Decodes and prepares `encoded` (one image per row) into schema input `i` (an image input): a
  // tensor [N, 3, h, w] or [N, h, w, 3] as its ImageSpec says, of the input's dtype (FP32, or
  // converted to FP16 or FP64). Errors: ImagesToTensor's (image_unsupported, image_invalid,
  // image_too_large naming the input and the image's index; invalid_request for no image).
  StatusOr<Tensor> PrepareImages(size_t i, const std::vector<std::string_view>& encoded) const;

  // Reports `out` (an output of the model) as the pipeline says; `inputs` are the run's inputs
  // in schema order (mean pooling reads its mask there). Outputs without a report come back as
  // the raw tensor. Errors: InvalidArgument (reason "shape_mismatch") when a mask does not fit;
  // Internal (reason "model_error") when the model's answer does not fit its report (a class index
  // past the labels, a zero-length class dimension).
  StatusOr<ReportedOutput> Report(Tensor out, const std::vector<Tensor>& inputs) const;

  // How an output of the model is answered, as a tensor spec (V2 metadata): argmax and top_k
  // become BYTES [leading dims..., k] (k = 1 for argmax), mean_pool FP32 [N, H], softmax FP32 of
  // the same shape; outputs without a report are returned unchanged.
  TensorSpec ReportedSpec(const TensorSpec& output) const;
  // The report's name ("argmax", ...) for an output with a report, else nullptr.
  const char* ReportName(const std::string& output) const;

  const PipelineSpec& spec() const { return spec_; }
  const ModelSchema& model() const { return model_; }

 private:
  Pipeline() = default;

  PipelineSpec spec_;
  ModelSchema model_;
  std::vector<std::pair<std::string, std::vector<std::string>>> labels_;  // by file path
  std::shared_ptr<const TextTokenizer> tokenizer_;                        // null: no text inputs
  std::vector<int> text_field_;  // per schema input: -1 tensor, 0 ids, 1 mask, 2 type ids
  int64_t max_text_bytes_ = 0;
  std::vector<int> image_of_;  // per schema input: its index in spec_.inputs if fed from images
  size_t image_inputs_ = 0;
};

// Reports every output (a null pipeline reports all raw). Errors as Pipeline::Report.
StatusOr<std::vector<ReportedOutput>> ReportOutputs(const Pipeline* p, std::vector<Tensor> outputs,
                                                    const std::vector<Tensor>& inputs);

// Writes one reported output as the value of its member in /v1 "outputs": a nested array for a
// tensor; for a ranking, an object {"label": "positive", "index": 1, "score": 0.98} per row
// (argmax) or a list of k such objects per row (top_k), nested like the output's leading dimensions
// ("label" only when the report has labels).
void WriteReportedJson(const ReportedOutput& r, JsonWriter* w);

// The reported output as an Open Inference Protocol tensor: itself for a tensor; for a ranking,
// BYTES of shape [leading dims..., k] holding "score:index:label" ("score:index" without labels),
// the classification extension's format.
Tensor ReportedToV2Tensor(ReportedOutput r);

// Parses a labels file: one label per line ("\n" or "\r\n"), a final newline optional.
// InvalidArgument (reason "invalid_labels") for invalid UTF-8, an empty line or no labels.
StatusOr<std::vector<std::string>> ParseLabels(std::string_view text, const std::string& path);

}  // namespace modelfn
