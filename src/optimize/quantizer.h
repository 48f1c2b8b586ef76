// int8 quantisation of an ONNX model, by ONNX Runtime's own quantisation tool (the Python package
// onnxruntime.quantization, maintained with ONNX Runtime; there is no C or C++ API for it), run
// as a child process: modelfn writes the calibration inputs, the tool writes the quantised model.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "tensor/tensor.h"

namespace modelfn {

struct QuantizeOptions {
  std::string mode = "dynamic";  // dynamic: weights int8 now, activations at each Run; static:
                                 // activations too, with ranges from the calibration inputs
  bool per_channel = false;      // a scale per output channel of each weight
  bool external_data = false;    // the model keeps its weights in external data
  // The Python that has onnxruntime and onnx: MODELFN_PYTHON, else python3 on PATH.
  std::string python;
  // static: one entry per calibration sample, the model's inputs by name.
  std::vector<std::vector<Tensor>> calibration;
};

// The Python to run the tool with (MODELFN_PYTHON, else "python3").
std::string QuantizerPython();

// Quantises `in_model` into `out_model`, using `work_dir` (existing, empty) for the calibration
// files and the tool's log. Errors: FailedPrecondition (reason "quantizer_unavailable") when the
// Python cannot be run or lacks onnxruntime.quantization, saying what to install;
// InvalidArgument (reason "quantization_failed") with the end of the tool's output otherwise;
// InvalidArgument (reason "usage") for static mode without calibration inputs.
Status Quantize(const std::string& in_model, const std::string& out_model,
                const std::string& work_dir, const QuantizeOptions& options);

// The tool's version ("onnxruntime 1.32.0"), or an error as Quantize's.
StatusOr<std::string> QuantizerVersion(const std::string& python, const std::string& work_dir);

// NumPy's .npy format (version 1.0) of a numeric tensor, for the calibration files.
// InvalidArgument for BYTES.
StatusOr<std::string> EncodeNpy(const Tensor& t);

}  // namespace modelfn
