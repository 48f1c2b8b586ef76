// manifest.json: what a model version is (name, version, files with sha256 and size, IO schema).
//
//   {"schema_version": 1, "name": "digits", "version": "1.0.0", "framework": "onnx",
//    "files": [{"path": "model.onnx", "sha256": "<hex>", "size": 21031}],
//    "inputs":  [{"name": "pixels", "datatype": "FP32", "shape": ["N", 64]}],
//    "outputs": [{"name": "label", "datatype": "INT64", "shape": ["N"]}, ...],
//    "created_at": "2026-11-28T16:04:00.000Z"}
//
// Optional: "batching": {"merge": true|false} says whether /v1/batch may run the rows of several
// requests as one model run (default: yes, unless the model uses an operator whose answer for a
// row depends on the other rows, such as DynamicQuantizeLinear).
//
// Optional per input: "max_shape": [null, 512] bounds each dimension (null: unbounded) and
// "range": [0, 30521] bounds every element's value, for what the model cannot take (positions past
// its table, token ids past its vocabulary): such requests get a 400 before the model runs.
//
// Optional: "pipeline" (manifest/pipeline_spec.h, docs/pipeline.md): where inputs come from (text
// through a tokenizer, images) and how outputs are reported (softmax, top-k, argmax with labels,
// mean pooling). Every file it names must be listed in "files".
//
// Every file the model reads (the model file and each external-data file its tensors name) must
// be listed in "files": nothing unlisted is ever loaded.
// A shape dimension is an integer (fixed), a string (symbolic, kept from the model) or -1
// (dynamic without a name).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "engine/engine.h"
#include "engine/onnx_model_info.h"
#include "manifest/pipeline_spec.h"
#include "tensor/schema.h"

namespace modelfn {

struct ManifestFile {
  std::string path;  // relative to the version folder, no "..", no leading "/"
  std::string sha256;
  uint64_t size = 0;
};

struct Manifest {
  int schema_version = 1;
  std::string name;
  std::string version;
  std::string framework = "onnx";
  std::vector<ManifestFile> files;  // files[0] is the model file
  ModelSchema schema;
  std::string created_at;
  std::optional<bool> merge_batches;  // "batching": {"merge": ...}; nullopt: decided from the ops
  std::vector<InputLimits> input_limits;  // inputs with "max_shape" or "range", in schema order
  std::optional<PipelineSpec> pipeline;   // "pipeline"; nullopt: tensors in, raw tensors out
  // "optimization": how `modelfn optimize` made this version from another (source version and
  // its model's sha256, graph level, quantisation, tools, the accuracy measured), a JSON object
  // kept as written; "" when the version was not made so.
  std::string optimization;

  const ManifestFile* model_file() const { return files.empty() ? nullptr : &files[0]; }
};

// Model names: 1-63 characters of [a-z0-9._-], starting with a letter or digit (they become URL
// path segments and store prefixes). Versions: 1-63 characters of [A-Za-z0-9._+-].
Status ValidateModelName(std::string_view name);
Status ValidateVersion(std::string_view version);

// Parses and validates manifest.json. InvalidArgument (reason "invalid_manifest") with the field at
// fault.
StatusOr<Manifest> ParseManifest(std::string_view json);
std::string SerializeManifest(const Manifest& m);  // pretty enough to read, stable field order

// Builds a manifest for the files in `dir` (model file first), hashing each, with the given schema.
StatusOr<Manifest> BuildManifest(const std::string& dir, std::string name, std::string version,
                                 const std::vector<std::string>& files, ModelSchema schema,
                                 const Clock& clock);

// Re-hashes every listed file under `dir`. DataLoss (reason "checksum_mismatch") naming the file
// on a size or sha256 mismatch; NotFound when a file is missing.
Status VerifyFiles(const Manifest& m, const std::string& dir);

// Checks that every external-data file the model names (`info`, from InspectOnnxModel) resolves
// inside `dir` and is listed in the manifest (so it is verified like the model file).
// InvalidArgument (reason "unsafe_external_data") for a location leading out of `dir`; NotFound
// (reason "external_data_missing"); FailedPrecondition (reason "external_data_unlisted") naming
// the file when the manifest does not list it.
Status CheckExternalFilesListed(const Manifest& m, const OnnxModelInfo& info,
                                const std::string& dir);

// Checks the pipeline section (if any) against the model's schema: every name it uses is a model
// input or output, text inputs are integer tensors sharing one tokenizer, image inputs are rank-4
// float tensors, softmax/top_k/argmax outputs are numeric (float unless scores are raw), a
// mean_pool output is a float [N, T, H] tensor whose mask is a numeric model input. A labels file's
// line count is checked against the output's last dimension when the pipeline is loaded.
// FailedPrecondition (reason "pipeline_mismatch") naming the field.
Status CheckPipelineMatches(const Manifest& m, const ModelSchema& model);

// Checks that the manifest's IO schema names the model's inputs and outputs with the same dtypes.
// FailedPrecondition (reason "manifest_mismatch") otherwise.
Status CheckSchemaMatches(const Manifest& m, const ModelSchema& model);

}  // namespace modelfn
