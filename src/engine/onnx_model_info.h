// What modelfn needs to know about an ONNX model before ONNX Runtime sees it: which files its
// tensors load from (external data) and which operators it uses. Read straight from the model's
// protobuf bytes with libprotobuf's wire decoder; tensor payloads (raw_data) are skipped, never
// copied, so the cost does not grow with the weights.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {

struct OnnxModelInfo {
  // Every distinct external-data "location", exactly as the model names it, in first-seen order.
  std::vector<std::string> external_files;
  // "domain:op_type" of every node in the graph, its subgraphs and its local functions ("" is
  // the default ONNX domain, written without the colon: "Gemm", "com.microsoft:QAttention").
  std::set<std::string> ops;
};

// Walks `model_bytes` (a serialised ModelProto). InvalidArgument (reason "invalid_model") when the
// bytes are not a well-formed protobuf, nest subgraphs deeper than 64 levels, or a tensor marked
// EXTERNAL has no "location". Thread-safe; keeps no reference to the bytes.
StatusOr<OnnxModelInfo> InspectOnnxModel(std::string_view model_bytes);

// Checks that an external-data location names a regular file inside `model_dir`, and returns its
// path relative to `model_dir` (normalised: "./w.bin" -> "w.bin"). Refused, with reason
// "unsafe_external_data" (InvalidArgument) and the location in the message: an absolute path, a
// ".." component, an empty name, a NUL, or a path whose real location (symlinks resolved) leaves
// `model_dir`. NotFound (reason "external_data_missing") when the file does not exist.
StatusOr<std::string> ResolveExternalFile(const std::string& model_dir, std::string_view location);

// Operators whose result for one row depends on the other rows of the same Run, so rows of
// separate requests must not be merged into one Run (the answer would change). Returns the ones
// `info` uses, sorted; empty when merging rows is safe as far as the operators tell.
std::vector<std::string> BatchDependentOps(const OnnxModelInfo& info);

}  // namespace modelfn
