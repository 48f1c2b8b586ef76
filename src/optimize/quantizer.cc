#include "optimize/quantizer.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/files.h"
#include "common/json.h"

extern char** environ;

namespace modelfn {
namespace {

// Runs in the child Python: argv[1] is a JSON spec written by Quantize.
constexpr const char* kScript = R"PY(
import glob, json, os, sys

spec = json.loads(open(sys.argv[1]).read())
try:
    import numpy as np
    import onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
except ImportError as e:
    print("modelfn-quantizer: missing " + str(e), file=sys.stderr)
    sys.exit(3)
if spec["mode"] == "version":
    print("onnxruntime " + onnxruntime.__version__)
    sys.exit(0)

src = spec["input"]
# ONNX Runtime's recommended pre-processing (shape inference, basic graph clean-up); the model is
# quantised as it is when that fails.
pre = os.path.join(spec["work"], "pre.onnx")
try:
    from onnxruntime.quantization.shape_inference import quant_pre_process
    quant_pre_process(src, pre, save_as_external_data=spec["external"])
    src = pre
except Exception as e:
    print("modelfn-quantizer: pre-processing skipped: %s" % e, file=sys.stderr)

if spec["mode"] == "dynamic":
    quantize_dynamic(src, spec["output"], weight_type=QuantType.QInt8,
                     per_channel=spec["per_channel"], use_external_data_format=spec["external"])
else:
    names = spec["inputs"]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(range(spec["samples"]))

        def get_next(self):
            i = next(self.samples, None)
            if i is None:
                return None
            return {n: np.load(os.path.join(spec["work"], "calib-%d-%d.npy" % (i, k)))
                    for k, n in enumerate(names)}

    quantize_static(src, spec["output"], Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=spec["per_channel"], use_external_data_format=spec["external"])
)PY";

constexpr int kMissingModule = 3;

// Runs argv in `dir` (the tool writes temporary files where it runs) with stdout and stderr to
// `log`; the exit status, or an error when it cannot start.
StatusOr<int> Run(const std::vector<std::string>& argv, const std::string& dir,
                  const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Status(StatusCode::kNotFound, "cannot run " + argv[0] + ": " + strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return Status(StatusCode::kInternal, "waitpid: " + std::string(strerror(errno)));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string Tail(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return "";
  const std::string& t = *text;
  return t.size() > 2000 ? t.substr(t.size() - 2000) : t;
}

Status Unavailable(const std::string& python, const std::string& why) {
  return Status(
      StatusCode::kFailedPrecondition,
      "quantisation runs ONNX Runtime's tool (onnxruntime.quantization) with " + python +
          ", which " + why +
          ": install it (pip install onnxruntime onnx numpy) or point MODELFN_PYTHON at a "
          "Python that has it",
      "quantizer_unavailable");
}

StatusOr<std::string> RunScript(const std::string& python, const std::string& work_dir,
                                const std::string& spec_json) {
  const std::string script = work_dir + "/quantize.py", spec = work_dir + "/spec.json",
                    log = work_dir + "/quantize.log";
  RETURN_IF_ERROR(WriteFileAtomic(script, kScript));
  RETURN_IF_ERROR(WriteFileAtomic(spec, spec_json));
  auto rc = Run({python, script, spec}, work_dir, log);
  if (!rc.ok()) return Unavailable(python, "cannot be run (" + rc.status().message() + ")");
  if (*rc == kMissingModule) return Unavailable(python, "lacks a module (" + Tail(log) + ")");
  if (*rc != 0) {
    return Status(
        StatusCode::kInvalidArgument,
        "onnxruntime.quantization failed (exit " + std::to_string(*rc) + "): " + Tail(log),
        "quantization_failed");
  }
  return Tail(log);
}

}  // namespace

std::string QuantizerPython() {
  const char* p = getenv("MODELFN_PYTHON");
  return p != nullptr && *p != '\0' ? p : "python3";
}

StatusOr<std::string> EncodeNpy(const Tensor& t) {
  const char* descr = nullptr;
  switch (t.dtype) {
    case DType::kBool:
      descr = "|b1";
      break;
    case DType::kUint8:
      descr = "|u1";
      break;
    case DType::kUint16:
      descr = "<u2";
      break;
    case DType::kUint32:
      descr = "<u4";
      break;
    case DType::kUint64:
      descr = "<u8";
      break;
    case DType::kInt8:
      descr = "|i1";
      break;
    case DType::kInt16:
      descr = "<i2";
      break;
    case DType::kInt32:
      descr = "<i4";
      break;
    case DType::kInt64:
      descr = "<i8";
      break;
    case DType::kFp16:
      descr = "<f2";
      break;
    case DType::kFp32:
      descr = "<f4";
      break;
    case DType::kFp64:
      descr = "<f8";
      break;
    case DType::kBytes:
      return Status(StatusCode::kInvalidArgument, "a BYTES tensor has no .npy form", "usage");
  }
  // A Python tuple: "()", "(4,)", "(2, 3)".
  std::string shape;
  for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
  if (t.shape.size() == 1) shape += ",";
  std::string header =
      std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64 and
  // ended by a newline.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  return out;
}

StatusOr<std::string> QuantizerVersion(const std::string& python, const std::string& work_dir) {
  ASSIGN_OR_RETURN(std::string out, RunScript(python, work_dir, R"({"mode":"version"})"));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  size_t nl = out.rfind('\n');
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

Status Quantize(const std::string& in_model, const std::string& out_model,
                const std::string& work_dir, const QuantizeOptions& options) {
  if (options.mode != "dynamic" && options.mode != "static") {
    return Status(StatusCode::kInvalidArgument, "quantisation is dynamic or static", "usage");
  }
  std::vector<std::string> names;
  if (options.mode == "static") {
    if (options.calibration.empty()) {
      return Status(StatusCode::kInvalidArgument,
                    "static quantisation needs calibration inputs: give --samples", "usage");
    }
    for (const Tensor& t : options.calibration[0]) names.push_back(t.name);
    for (size_t i = 0; i < options.calibration.size(); ++i) {
      for (size_t k = 0; k < options.calibration[i].size(); ++k) {
        ASSIGN_OR_RETURN(std::string npy, EncodeNpy(options.calibration[i][k]));
        RETURN_IF_ERROR(WriteFileAtomic(
            work_dir + "/calib-" + std::to_string(i) + "-" + std::to_string(k) + ".npy", npy));
      }
    }
  }
  std::string spec;
  JsonWriter w(&spec);
  w.BeginObject().Key("mode").String(options.mode).Key("input").String(in_model);
  w.Key("output").String(out_model).Key("work").String(work_dir);
  w.Key("per_channel").Bool(options.per_channel).Key("external").Bool(options.external_data);
  w.Key("samples").Uint(options.calibration.size()).Key("inputs").BeginArray();
  for (const std::string& n : names) w.String(n);
  w.EndArray().EndObject();
  return RunScript(options.python.empty() ? QuantizerPython() : options.python, work_dir, spec)
      .status();
}

}  // namespace modelfn
