// Engine backed by ONNX Runtime (C++ API). One Ort::Env per process, one session per engine.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "engine/engine.h"

namespace modelfn {

// Thread settings: by default ONNX Runtime runs each request on the calling thread (intra_op =
// inter_op = 1, sequential execution, no spinning), and requests run in parallel across the
// server's worker threads; a process with no ORT pool threads can also be forked safely (template
// instances). modelfn-fn chooses other values per face (function/ort_threads.h: every CPU and
// spinning for the Lambda face's one event at a time).
struct OrtEngineOptions {
  int intra_op_threads = 1;
  int inter_op_threads = 1;
  // Whether idle intra-op pool threads spin a moment before sleeping (ONNX Runtime's
  // session.intra_op.allow_spinning): shorter Runs of many small operators, paid in CPU time.
  bool spin = false;
  // 0 disable, 1 basic, 2 extended, 99 all (ONNX Runtime's GraphOptimizationLevel).
  int graph_optimization_level = 99;
};

class OrtEngine final : public Engine {
 public:
  // Loads the model file and reads its IO schema. Errors: NotFound (no file), InvalidArgument
  // (not a valid ONNX model, reason "invalid_model"), Unimplemented (an input of a type modelfn
  // cannot feed). Outputs of unsupported kinds (sequences, maps) are left out of schema().outputs.
  // External data is read from the model file's own folder only, never from the working
  // directory: a location that is absolute, has a ".." component, or is a symlink leading out of
  // the folder is refused (InvalidArgument, reason "unsafe_external_data", naming the file); a
  // missing one is NotFound (reason "external_data_missing").
  static StatusOr<std::unique_ptr<OrtEngine>> Load(const std::string& model_path,
                                                   const OrtEngineOptions& options);
  // The same, from the model's bytes in memory (the caller verifies exactly these bytes, before
  // or while this runs, and drops the engine if they fail; the model file is not read again).
  // `model_path` is where the bytes came from: it names the model in error messages and its folder
  // is the one external data is read from (the working directory when it has no "/"). The bytes may
  // be freed once this returns.
  static StatusOr<std::unique_ptr<OrtEngine>> LoadFromBytes(std::string_view model_bytes,
                                                            const std::string& model_path,
                                                            const OrtEngineOptions& options);

  // Writes the model at `model_path` as ONNX Runtime rewrites it at graph optimisation `level`
  // (1 basic, 2 extended, 99 all; see OrtEngineOptions) to `out_path`, in ONNX format. Initialisers
  // of a model that keeps its weights in external data go to `out_path`.data beside it. Level 99
  // may write operators and layouts specific to this machine's CPU (ONNX Runtime warns so); 2 is
  // the highest level whose output runs on any CPU. Errors: InvalidArgument (reason
  // "invalid_model") when ONNX Runtime cannot load or save it.
  static Status SaveOptimized(const std::string& model_path, const std::string& out_path, int level,
                              bool external_data);

  // Creates the process's ONNX Runtime environment if not done yet (the largest part of a cold
  // start: ~10-50 ms of CPU inside ONNX Runtime). Thread-safe; call it from a helper thread at the
  // very start of the init phase so it overlaps with reading and verifying the model.
  static void InitEnvironment();

  // Process settings for ONNX Runtime, to call first in main() while the process has one thread:
  // turns off ONNX Runtime's own telemetry (which since 1.29 also runs on Linux: it persists a
  // device id under ~/.cache and would upload over HTTPS), unless MODELFN_ORT_TELEMETRY=1 or the
  // user set ORT_DISABLE_TELEMETRY. Functions should not phone home; it also saves ~2 ms of Env
  // creation on every cold start.
  // ONNX Runtime's version ("1.30.0"), as the library loaded says.
  static std::string RuntimeVersion();
  static void PrepareProcess();
  ~OrtEngine() override;

  const ModelSchema& schema() const override { return schema_; }
  StatusOr<std::vector<Tensor>> Run(const std::vector<const Tensor*>& inputs,
                                    const std::vector<size_t>& outputs,
                                    const RunLimits& limits = RunLimits()) override;

  // Milliseconds the process spent creating the shared Ort::Env (0 if an earlier engine did).
  static double EnvCreateMillis();

 private:
  struct Impl;
  explicit OrtEngine(std::unique_ptr<Impl> impl);
  static StatusOr<std::unique_ptr<OrtEngine>> LoadImpl(std::string_view model_bytes,
                                                       const std::string& model_path,
                                                       const OrtEngineOptions& options);
  std::unique_ptr<Impl> impl_;
  ModelSchema schema_;
};

}  // namespace modelfn
