// The optional "pipeline" section of manifest.json: where each model input comes from and how each
// model output is reported (docs/pipeline.md is the reference).
//
//   "pipeline": {
//     "version": 1,
//     "inputs":  [{"name": "input_ids", "source": "text", "tokenizer": "tokenizer.json",
//                  "field": "input_ids", "max_length": 128}, ...],
//     "outputs": [{"name": "logits", "report": "argmax", "labels": "labels.txt"},
//                 {"name": "hidden", "report": "mean_pool", "mask": "attention_mask"}]
//   }
//
// Inputs and outputs not listed keep today's behaviour (a tensor in, the raw tensor out). This file
// only parses, validates and writes the section; checks against the model and the other files of
// the version are CheckPipeline's (manifest.h), and applying it is src/pipeline/.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace modelfn {

enum class InputSource : uint8_t { kTensor, kText, kImage };
enum class OutputReport : uint8_t { kTensor, kSoftmax, kTopK, kArgmax, kMeanPool };

const char* InputSourceName(InputSource s);
const char* OutputReportName(OutputReport r);

// Image decoding parameters ("source": "image").
struct ImageSpec {
  std::string layout = "NCHW";  // NCHW | NHWC
  std::string color = "RGB";    // RGB | BGR
  int64_t height = 0;           // "size": [height, width] the image is resized to
  int64_t width = 0;
  std::array<double, 3> mean = {0, 0, 0};  // per channel, after scaling
  std::array<double, 3> std = {1, 1, 1};
  double scale = 1.0 / 255.0;  // applied to 0..255 samples before mean/std
  int64_t max_width = 4096;    // checked from the header, before decoding
  int64_t max_height = 4096;
  int64_t max_pixels = 16 * 1024 * 1024;
  std::string resize = "bilinear";  // bilinear | bicubic | nearest (as Pillow's Image.resize)
};

struct PipelineInput {
  std::string name;  // a model input
  InputSource source = InputSource::kTensor;
  // "text": the tokenizer file (listed in "files") and which of its encodings feeds this input.
  std::string tokenizer;
  std::string field;       // input_ids | attention_mask | token_type_ids
  int64_t max_length = 0;  // tokens per text after truncation; 0: the tokenizer's own setting
  int64_t max_text_bytes = 64 * 1024;  // a longer text (UTF-8 bytes) is refused: text_too_long
  ImageSpec image;                     // "image"
};

struct PipelineOutput {
  std::string name;  // a model output
  OutputReport report = OutputReport::kTensor;
  std::string labels;     // argmax, top_k: a file listed in "files", one label per line; optional
  int64_t k = 0;          // top_k: entries per row (>= 1)
  bool softmax = true;    // argmax, top_k: scores are softmax probabilities ("scores": "softmax")
                          // or the raw values ("scores": "raw")
  std::string mask;       // mean_pool: the model input holding the attention mask ([N, T])
  bool normalize = true;  // mean_pool: L2-normalise each pooled row ("normalize": "l2"|"none")
};

struct PipelineSpec {
  int version = 1;
  std::vector<PipelineInput> inputs;
  std::vector<PipelineOutput> outputs;

  const PipelineInput* FindInput(const std::string& name) const;
  const PipelineOutput* FindOutput(const std::string& name) const;
  // Every file the section names (tokenizers, label files), each once, in order of appearance.
  std::vector<std::string> Files() const;
};

// Parses the "pipeline" value. InvalidArgument (reason "invalid_manifest") naming the field at
// fault, e.g. "pipeline.outputs[0] 'logits': 'k' must be an integer >= 1".
StatusOr<PipelineSpec> ParsePipeline(const Json& value);
// Writes the section as a JSON value (stable field order; defaults omitted).
void WritePipeline(const PipelineSpec& spec, JsonWriter* w);

}  // namespace modelfn
