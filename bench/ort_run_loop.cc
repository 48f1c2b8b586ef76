// Baseline for the benchmarks: ONNX Runtime's own Run loop in-process, no server, no JSON, with the
// same session settings modelfn-fn uses (intra/inter-op threads 1, sequential, no spinning).
// Prints one JSON object: per-Run latency percentiles on one thread and throughput on N threads.
//
// Any model: the inputs are read from the session (every name, numeric dtype and rank). A fixed
// dimension is used as is; a symbolic one is --rows for the first dimension and otherwise its
// --dim NAME=VALUE, or 1. Floating-point inputs hold 0.5, integers and booleans 0.
//
// usage: ort_run_loop MODEL.onnx [--seconds S] [--threads T] [--rows N] [--dim NAME=VALUE ...]
//        (--seconds 0: load, run once, exit: the floor of a cold start)
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

size_t ElementSize(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64:
      return 8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32:
      return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16:
      return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return 1;
    default:
      return 0;  // strings and others: not supported here
  }
}

// One input's buffer, filled as the header says, with its shape.
struct Input {
  std::string name;
  ONNXTensorElementDataType type;
  std::vector<int64_t> shape;
  std::vector<char> data;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s MODEL.onnx [--seconds S] [--threads T] [--rows N] [--dim NAME=VALUE ...]\n",
            argv[0]);
    return 2;
  }
  const char* model = argv[1];
  double seconds = 3.0;
  int threads = 2;
  int64_t rows = 1;
  std::map<std::string, int64_t> dims;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--seconds") {
      seconds = atof(v);
    } else if (flag == "--threads") {
      threads = atoi(v);
    } else if (flag == "--rows") {
      rows = atoll(v);
    } else if (flag == "--dim" && strchr(v, '=') != nullptr) {
      dims[std::string(v, strchr(v, '='))] = atoll(strchr(v, '=') + 1);
    } else {
      fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  using Clock = std::chrono::steady_clock;

  // The same process settings as modelfn-fn (OrtEngine::PrepareProcess): no ONNX Runtime telemetry.
  if (getenv("MODELFN_ORT_TELEMETRY") == nullptr) setenv("ORT_DISABLE_TELEMETRY", "1", 0);
  auto t0 = Clock::now();
  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "bench");
  auto t1 = Clock::now();
  Ort::SessionOptions so;
  so.SetIntraOpNumThreads(1);
  so.SetInterOpNumThreads(1);
  so.SetExecutionMode(ORT_SEQUENTIAL);
  so.AddConfigEntry("session.intra_op.allow_spinning", "0");
  so.SetGraphOptimizationLevel(ORT_ENABLE_ALL);
  Ort::Session session(env, model, so);
  auto t2 = Clock::now();

  Ort::AllocatorWithDefaultOptions alloc;
  std::vector<Input> inputs;
  for (size_t i = 0; i < session.GetInputCount(); ++i) {
    Input in;
    in.name = session.GetInputNameAllocated(i, alloc).get();
    Ort::TypeInfo type_info = session.GetInputTypeInfo(i);  // `info` points into it
    auto info = type_info.GetTensorTypeAndShapeInfo();
    in.type = info.GetElementType();
    in.shape = info.GetShape();
    std::vector<const char*> symbolic = info.GetSymbolicDimensions();
    int64_t count = 1;
    for (size_t d = 0; d < in.shape.size(); ++d) {
      if (in.shape[d] < 0) {
        auto named = dims.find(symbolic[d] != nullptr ? symbolic[d] : "");
        in.shape[d] = named != dims.end() ? named->second : d == 0 ? rows : 1;
      }
      count *= in.shape[d];
    }
    size_t size = ElementSize(in.type);
    if (size == 0) {
      fprintf(stderr, "input %s: element type %d is not supported\n", in.name.c_str(), in.type);
      return 2;
    }
    in.data.assign(static_cast<size_t>(count) * size, 0);
    if (in.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      std::fill_n(reinterpret_cast<float*>(in.data.data()), count, 0.5f);
    } else if (in.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE) {
      std::fill_n(reinterpret_cast<double*>(in.data.data()), count, 0.5);
    }
    inputs.push_back(std::move(in));
  }
  std::vector<const char*> in_names;
  for (auto& in : inputs) in_names.push_back(in.name.c_str());
  std::vector<std::string> outs;
  for (size_t i = 0; i < session.GetOutputCount(); ++i) {
    outs.push_back(session.GetOutputNameAllocated(i, alloc).get());
  }
  std::vector<const char*> out_names;
  for (auto& o : outs) out_names.push_back(o.c_str());
  auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);

  // Each thread runs on its own copy of the inputs, as concurrent requests would.
  auto run_once = [&](std::vector<Input>& ins) {
    std::vector<Ort::Value> values;
    for (Input& in : ins) {
      values.push_back(Ort::Value::CreateTensor(mem, in.data.data(), in.data.size(),
                                                in.shape.data(), in.shape.size(), in.type));
    }
    auto r = session.Run(Ort::RunOptions{nullptr}, in_names.data(), values.data(), values.size(),
                         out_names.data(), out_names.size());
    return r.size();
  };

  if (seconds <= 0) {  // "once": the floor of a process that loads the model and answers once
    run_once(inputs);
    std::_Exit(0);  // stop the clock here: ONNX Runtime's teardown is not part of a cold start
  }
  for (int i = 0; i < 200; ++i) run_once(inputs);  // warm up
  std::vector<double> lat;
  lat.reserve(1 << 20);
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    auto a = Clock::now();
    run_once(inputs);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    return lat[static_cast<size_t>(q * static_cast<double>(lat.size() - 1))];
  };

  std::atomic<bool> stop{false};
  std::atomic<long> count{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      std::vector<Input> mine = inputs;
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        run_once(mine);
        ++n;
      }
      count += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();

  printf(
      "{\"env_ms\": %.3f, \"session_ms\": %.3f, \"runs\": %zu, \"p50_us\": %.3f, \"p99_us\": %.3f, "
      "\"threads\": %d, \"rows\": %lld, \"throughput_rps\": %.1f}\n",
      std::chrono::duration<double, std::milli>(t1 - t0).count(),
      std::chrono::duration<double, std::milli>(t2 - t1).count(), lat.size(), pct(0.5), pct(0.99),
      threads, static_cast<long long>(rows), static_cast<double>(count.load()) / seconds);
  return 0;
}
