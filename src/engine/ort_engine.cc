#include "engine/ort_engine.h"

#include <onnxruntime_cxx_api.h>
#include <onnxruntime_session_options_config_keys.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "common/clock.h"
#include "common/deadline_watch.h"
#include "common/files.h"
#include "common/log.h"
#include "engine/onnx_model_info.h"

namespace modelfn {
namespace {

std::optional<DType> FromOnnx(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return DType::kBool;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
      return DType::kUint8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16:
      return DType::kUint16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32:
      return DType::kUint32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64:
      return DType::kUint64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
      return DType::kInt8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
      return DType::kInt16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      return DType::kInt32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      return DType::kInt64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return DType::kFp16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      return DType::kFp32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
      return DType::kFp64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING:
      return DType::kBytes;
    default:
      return std::nullopt;
  }
}

ONNXTensorElementDataType ToOnnx(DType t) {
  switch (t) {
    case DType::kBool:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL;
    case DType::kUint8:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case DType::kUint16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16;
    case DType::kUint32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32;
    case DType::kUint64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64;
    case DType::kInt8:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
    case DType::kInt16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16;
    case DType::kInt32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case DType::kInt64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    case DType::kFp16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    case DType::kFp32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DType::kFp64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
    case DType::kBytes:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING;
  }
  return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

double g_env_ms = 0;

// ONNX Runtime's own sink writes coloured, multi-line text to stderr, which shares the function's
// log file, and its messages quote node names the model chose: a request that fails inside a
// kernel would put lines of the model's choosing into the log. Its messages become escaped JSON
// lines like every other.
void OrtLogToJson(void*, OrtLoggingLevel severity, const char* category, const char*,
                  const char* code_location, const char* message) {
  static const EventLog log(2, &RealClock::Get());
  const char* level = severity >= ORT_LOGGING_LEVEL_ERROR     ? "error"
                      : severity == ORT_LOGGING_LEVEL_WARNING ? "warn"
                                                              : "info";
  EventLog::Line line = log.Begin("onnxruntime", level);
  // The request whose Run this is, when it runs on the request's thread.
  if (const std::string* id = RequestLogContext::request_id())
    line.w().Key("request_id").String(*id);
  if (const std::string* id = RequestLogContext::trace_id()) line.w().Key("trace_id").String(*id);
  line.w().Key("category").String(category ? category : "");
  line.w().Key("where").String(code_location ? code_location : "");
  line.w().Key("msg").String(message ? message : "");
  log.Emit(line);
}

Ort::Env& SharedEnv() {
  static Ort::Env* env = [] {
    OrtEngine::PrepareProcess();
    auto t0 = std::chrono::steady_clock::now();
    auto* e = new Ort::Env(ORT_LOGGING_LEVEL_WARNING, "modelfn", OrtLogToJson, nullptr);
    if (getenv("MODELFN_ORT_TELEMETRY") == nullptr) e->DisableTelemetryEvents();
    g_env_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return e;  // never destroyed: ORT's own statics may outlive ours at exit
  }();
  return *env;
}

// Reads the spec of one input or output. Returns false for non-tensor or unsupported kinds.
bool ReadSpec(const Ort::TypeInfo& info, std::string name, TensorSpec* spec, std::string* why) {
  if (info.GetONNXType() != ONNX_TYPE_TENSOR) {
    *why = "is not a tensor (ONNX type " + std::to_string(info.GetONNXType()) + ")";
    return false;
  }
  auto t = info.GetTensorTypeAndShapeInfo();
  auto dt = FromOnnx(t.GetElementType());
  if (!dt) {
    *why = "has unsupported element type " + std::to_string(t.GetElementType());
    return false;
  }
  spec->name = std::move(name);
  spec->dtype = *dt;
  spec->shape = t.GetShape();
  spec->dim_params.clear();
  for (const char* s : t.GetSymbolicDimensions()) spec->dim_params.emplace_back(s ? s : "");
  spec->dim_params.resize(spec->shape.size());
  for (int64_t& d : spec->shape) {
    if (d < 0) d = -1;
  }
  return true;
}

}  // namespace

struct OrtEngine::Impl {
  Ort::Session session{nullptr};
  std::vector<std::string> input_names;
  std::vector<const char*> input_cnames;
  std::vector<std::string> output_names;  // of schema outputs
  Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
};

OrtEngine::OrtEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OrtEngine::~OrtEngine() = default;

double OrtEngine::EnvCreateMillis() { return g_env_ms; }

std::string OrtEngine::RuntimeVersion() { return Ort::GetVersionString(); }

void OrtEngine::PrepareProcess() {
  const char* want = getenv("MODELFN_ORT_TELEMETRY");
  if (want == nullptr || std::string(want) != "1") setenv("ORT_DISABLE_TELEMETRY", "1", 0);
}

void OrtEngine::InitEnvironment() {
  try {
    SharedEnv();
  } catch (const Ort::Exception&) {
    // Reported by the Load that needs it.
  }
}

Status OrtEngine::SaveOptimized(const std::string& model_path, const std::string& out_path,
                                int level, bool external_data) {
  try {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(1);
    so.SetInterOpNumThreads(1);
    so.SetGraphOptimizationLevel(level == 1   ? ORT_ENABLE_BASIC
                                 : level == 2 ? ORT_ENABLE_EXTENDED
                                              : ORT_ENABLE_ALL);
    so.SetOptimizedModelFilePath(out_path.c_str());
    if (external_data) {
      std::string data = out_path.substr(out_path.rfind('/') + 1) + ".data";
      so.AddConfigEntry("session.optimized_model_external_initializers_file_name", data.c_str());
    }
    Ort::Session session(SharedEnv(), model_path.c_str(), so);
  } catch (const Ort::Exception& e) {
    return Status(StatusCode::kInvalidArgument,
                  "ONNX Runtime cannot optimise " + model_path + ": " + e.what(), "invalid_model");
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<OrtEngine>> OrtEngine::Load(const std::string& model_path,
                                                     const OrtEngineOptions& options) {
  auto bytes = ReadFile(model_path);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) {
      return NotFoundError("no model file at " + model_path);
    }
    return bytes.status();
  }
  return LoadFromBytes(*bytes, model_path, options);
}

StatusOr<std::unique_ptr<OrtEngine>> OrtEngine::LoadFromBytes(std::string_view model_bytes,
                                                              const std::string& model_path,
                                                              const OrtEngineOptions& options) {
  if (model_bytes.empty()) {
    return Status(StatusCode::kInvalidArgument, "model " + model_path + " is empty",
                  "invalid_model");
  }
  return LoadImpl(model_bytes, model_path, options);
}

StatusOr<std::unique_ptr<OrtEngine>> OrtEngine::LoadImpl(std::string_view model_bytes,
                                                         const std::string& model_path,
                                                         const OrtEngineOptions& options) {
  const std::string& label = model_path;
  size_t slash = model_path.rfind('/');
  std::string folder = slash == std::string::npos ? "."
                       : slash == 0               ? "/"
                                                  : model_path.substr(0, slash);
  // ONNX Runtime would resolve external data against the working directory (it is given bytes,
  // not a path) and follows any path the model names: check every location first.
  ASSIGN_OR_RETURN(OnnxModelInfo info, InspectOnnxModel(model_bytes));
  for (const std::string& location : info.external_files) {
    auto resolved = ResolveExternalFile(folder, location);
    if (!resolved.ok()) return resolved.status().WithContext("model " + label);
  }
  auto impl = std::make_unique<Impl>();
  ModelSchema schema;
  try {
    Ort::Env& env = SharedEnv();
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(options.intra_op_threads);
    so.SetInterOpNumThreads(options.inter_op_threads);
    so.SetExecutionMode(ORT_SEQUENTIAL);
    so.AddConfigEntry("session.intra_op.allow_spinning", options.spin ? "1" : "0");
    so.AddConfigEntry("session.inter_op.allow_spinning", "0");
    GraphOptimizationLevel level = ORT_ENABLE_ALL;
    switch (options.graph_optimization_level) {
      case 0:
        level = ORT_DISABLE_ALL;
        break;
      case 1:
        level = ORT_ENABLE_BASIC;
        break;
      case 2:
        level = ORT_ENABLE_EXTENDED;
        break;
      default:
        level = ORT_ENABLE_ALL;
        break;
    }
    so.SetGraphOptimizationLevel(level);
    so.AddConfigEntry(kOrtSessionOptionsModelExternalInitializersFileFolderPath, folder.c_str());
    impl->session = Ort::Session(env, model_bytes.data(), model_bytes.size(), so);

    Ort::AllocatorWithDefaultOptions alloc;
    for (size_t i = 0; i < impl->session.GetInputCount(); ++i) {
      std::string name = impl->session.GetInputNameAllocated(i, alloc).get();
      TensorSpec spec;
      std::string why;
      if (!ReadSpec(impl->session.GetInputTypeInfo(i), name, &spec, &why)) {
        return UnimplementedError("model input '" + name + "' " + why);
      }
      impl->input_names.push_back(name);
      schema.inputs.push_back(std::move(spec));
    }
    for (size_t i = 0; i < impl->session.GetOutputCount(); ++i) {
      std::string name = impl->session.GetOutputNameAllocated(i, alloc).get();
      TensorSpec spec;
      std::string why;
      if (!ReadSpec(impl->session.GetOutputTypeInfo(i), name, &spec, &why)) continue;
      impl->output_names.push_back(name);
      schema.outputs.push_back(std::move(spec));
    }
  } catch (const Ort::Exception& e) {
    return Status(StatusCode::kInvalidArgument,
                  "ONNX Runtime cannot load " + label + ": " + e.what(), "invalid_model");
  }
  if (schema.outputs.empty()) {
    return UnimplementedError("model has no tensor outputs that modelfn can return");
  }
  for (const auto& n : impl->input_names) impl->input_cnames.push_back(n.c_str());
  auto engine = std::unique_ptr<OrtEngine>(new OrtEngine(std::move(impl)));
  engine->schema_ = std::move(schema);
  return engine;
}

StatusOr<std::vector<Tensor>> OrtEngine::Run(const std::vector<const Tensor*>& inputs,
                                             const std::vector<size_t>& outputs,
                                             const RunLimits& limits) {
  if (inputs.size() != schema_.inputs.size()) {
    return InvalidArgumentError("expected " + std::to_string(schema_.inputs.size()) + " inputs");
  }
  static uint64_t empty_buffer[1];
  try {
    std::vector<Ort::Value> values;
    values.reserve(inputs.size());
    for (const Tensor* t : inputs) {
      if (t->dtype == DType::kBytes) {
        Ort::AllocatorWithDefaultOptions alloc;
        Ort::Value v = Ort::Value::CreateTensor(alloc, t->shape.data(), t->shape.size(),
                                                ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING);
        // Sized copies, not FillStringTensor's C strings: BYTES keep embedded NUL bytes.
        for (size_t i = 0; i < t->strings.size(); ++i) {
          const std::string& s = t->strings[i];
          if (!s.empty())
            std::memcpy(v.GetResizedStringTensorElementBuffer(i, s.size()), s.data(), s.size());
        }
        values.push_back(std::move(v));
        continue;
      }
      void* data = t->data.empty() ? static_cast<void*>(empty_buffer)
                                   : const_cast<uint8_t*>(t->data.data());  // ORT only reads it
      values.push_back(Ort::Value::CreateTensor(impl_->cpu, data, t->data.size(), t->shape.data(),
                                                t->shape.size(), ToOnnx(t->dtype)));
    }
    std::vector<const char*> out_names;
    out_names.reserve(outputs.size());
    for (size_t idx : outputs) out_names.push_back(impl_->output_names[idx].c_str());
    // A deadline is armed on the process's watch, which sets the run's terminate flag when it
    // passes; ONNX Runtime stops between kernels and throws.
    Ort::RunOptions run_options;
    DeadlineWatch::Armed deadline;
    if (limits.deadline_mono_ns > 0) {
      deadline = DeadlineWatch::Get().Arm(limits.deadline_mono_ns,
                                          [&run_options] { run_options.SetTerminate(); });
    }
    std::vector<Ort::Value> results;
    try {
      results = impl_->session.Run(run_options, impl_->input_cnames.data(), values.data(),
                                   values.size(), out_names.data(), out_names.size());
    } catch (...) {
      if (deadline.Disarm()) {
        return Status(StatusCode::kDeadlineExceeded,
                      "the model run was stopped at the invocation's deadline", "timeout");
      }
      throw;
    }
    deadline.Disarm();
    std::vector<Tensor> out(outputs.size());
    for (size_t k = 0; k < outputs.size(); ++k) {
      Ort::Value& r = results[k];
      Tensor& t = out[k];
      const TensorSpec& spec = schema_.outputs[outputs[k]];
      t.name = spec.name;
      t.dtype = spec.dtype;
      auto info = r.GetTensorTypeAndShapeInfo();
      t.shape = info.GetShape();
      size_t n = info.GetElementCount();
      if (t.dtype == DType::kBytes) {
        t.strings.resize(n);
        for (size_t i = 0; i < n; ++i) t.strings[i] = r.GetStringTensorElement(i);
      } else {
        const uint8_t* p = static_cast<const uint8_t*>(r.GetTensorRawData());
        t.data.assign(p, p + n * DTypeSize(t.dtype));
      }
    }
    return out;
  } catch (const Ort::Exception& e) {
    // ONNX Runtime reports inputs its kernels refuse (an index past a table, shapes that do not
    // fit) as INVALID_ARGUMENT: the request's fault, not the model's.
    if (e.GetOrtErrorCode() == ORT_INVALID_ARGUMENT) {
      return Status(StatusCode::kInvalidArgument,
                    std::string("the model rejected the input: ") + e.what(), "invalid_input");
    }
    return Status(StatusCode::kInternal, std::string("model failed: ") + e.what(), "model_error");
  }
}

}  // namespace modelfn
