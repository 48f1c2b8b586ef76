// Turning request bodies into validated model inputs and model outputs into response bodies, for
// the seed API (/v1/infer, /v1/batch) and the Open Inference Protocol (/v2/.../infer). Pure
// functions over a schema and an engine: no transport, no logging.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "engine/engine.h"
#include "function/input_checks.h"
#include "pipeline/pipeline.h"
#include "tensor/schema.h"
#include "tensor/tensor.h"

namespace modelfn {

struct InferenceLimits {
  int64_t max_elements = 16 * 1024 * 1024;  // per request, summed over inputs (and batch items)
  size_t max_batch_items = 4096;
};

// Inputs ready for Engine::Run, plus which outputs to return.
struct PreparedInputs {
  std::vector<Tensor> inputs;        // schema order
  std::vector<size_t> outputs;       // indices into schema.outputs
  std::vector<bool> binary_outputs;  // V2 only: same length as outputs
  // A request in text for a pipeline with text inputs: the texts, one per row, whose tokens are
  // still to be put into `inputs` (EncodeTextInputs); those inputs are empty until then.
  bool text = false;
  std::vector<std::string> texts;
  // "inputs" was one string (a text, a base64 image) rather than a list, or the body one raw
  // image: answers drop the batch dimension.
  bool single = false;
};

// For a request of one text or image (p.single): each output loses its leading dimension of 1,
// so an argmax answers one {"label", "index", "score"} object rather than a list of one.
void DropSingleBatchDim(const PreparedInputs& p, std::vector<ReportedOutput>* outputs);

// Checks a decoded tensor against its spec: same rank, fixed dims equal. shape_mismatch otherwise.
Status CheckShape(const TensorSpec& spec, const Tensor& t);

// Runs the engine on prepared inputs, after CheckInputLimits. A run failure on an input with a
// zero-length dimension
// ([0, N]: an empty batch or sequence) is reported as the request's fault (400 shape_mismatch
// saying which input), not as a model error: many models cannot run on empty tensors.
StatusOr<std::vector<Tensor>> RunPrepared(Engine& engine, const PreparedInputs& prepared,
                                          const RunLimits& limits);

// "[N,64]" with symbolic names, for messages.
std::string SpecShapeString(const TensorSpec& spec);

// Seed API body: {"inputs": <nested array>} for a one-input model, or {"inputs": {"name": ...}};
// optional "outputs": ["name", ...] and "model": "<name>" (checked by the caller).
// `budget` is decremented by the elements decoded (shared across batch items).
// With a `pipeline` that has text inputs, "inputs" may also be a string or a list of strings:
// the result then holds the texts (text = true; see EncodeTextInputs); a list holding anything
// else is InvalidArgument "text_expected". Named tensors (an object) still bypass the tokenizer.
// With image inputs, base64 images are decoded here (image_inputs.h): "inputs" a string or a list
// of strings for a model whose only input is an image input, or, in an object of named inputs, an
// image input's value a string or a list of strings; a tensor still bypasses the decoder.
StatusOr<PreparedInputs> PrepareSeedRequest(const Json& body, const ModelSchema& schema,
                                            int64_t* budget, const Pipeline* pipeline = nullptr);

// Tokenizes p->texts as one batch and fills the pipeline's text inputs; a no-op unless p->text.
// `budget` is decremented by the elements made. Errors: Pipeline::Tokenize's; ResourceExhausted
// "too_many_elements" past the budget.
Status EncodeTextInputs(const Pipeline& pipeline, PreparedInputs* p, int64_t* budget);

// Writes {"outputs": {"name": <nested>}...} members (without the enclosing braces' other fields).
void WriteSeedOutputs(const std::vector<Tensor>& outputs, JsonWriter* w);
// The same for outputs reported through the manifest's pipeline (see WriteReportedJson).
void WriteSeedOutputs(const std::vector<ReportedOutput>& outputs, JsonWriter* w);

// Open Inference Protocol request. `header` is the JSON part; `binary` the bytes after it (binary
// tensor data extension), consumed by inputs with parameters.binary_data_size in order.
// With a `pipeline` that has text inputs, a BYTES tensor of shape [N] or [N, 1] given for one of
// them holds N texts: the result holds them (text = true) and the other text inputs are not
// needed; a tensor of the model's own datatype still bypasses the tokenizer. A BYTES tensor
// [N] or [N, 1] given for an image input holds N encoded images (base64 in JSON `data`, raw bytes
// as binary data), decoded here (image_inputs.h).
StatusOr<PreparedInputs> PrepareV2Request(const Json& header, std::string_view binary,
                                          const ModelSchema& schema, int64_t max_elements,
                                          const Pipeline* pipeline = nullptr);

// Open Inference Protocol response. Appends the JSON header to *out, then binary data for outputs
// marked binary; returns the JSON header length when any output went binary (for the
// Inference-Header-Content-Length header), else nullopt.
std::optional<size_t> WriteV2Response(std::string_view model_name, std::string_view version,
                                      const Json* request_id, const std::vector<Tensor>& outputs,
                                      const std::vector<bool>& binary, std::string* out);

}  // namespace modelfn
