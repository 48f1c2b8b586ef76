// Baseline for bench/run.py: ONNX Runtime's own Run loop in-process, no server, no JSON, with the
// same session settings modelfn-fn uses (intra/inter-op threads 1, sequential, no spinning).
// Prints one JSON object: per-Run latency percentiles on one thread and throughput on N threads.
//
// usage: ort_run_loop MODEL.onnx INPUT_NAME ROW_WIDTH [seconds] [threads]   (seconds 0: load, run
// once, exit)
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL.onnx INPUT_NAME ROW_WIDTH [seconds] [threads]\n", argv[0]);
    return 2;
  }
  const char* model = argv[1];
  const char* input_name = argv[2];
  int64_t width = atoi(argv[3]);
  double seconds = argc > 4 ? atof(argv[4]) : 3.0;
  int threads = argc > 5 ? atoi(argv[5]) : 2;
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
  std::vector<std::string> outs;
  for (size_t i = 0; i < session.GetOutputCount(); ++i) {
    outs.push_back(session.GetOutputNameAllocated(i, alloc).get());
  }
  std::vector<const char*> out_names;
  for (auto& o : outs) out_names.push_back(o.c_str());
  auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);

  auto run_once = [&](std::vector<float>& row) {
    int64_t shape[2] = {1, width};
    Ort::Value in = Ort::Value::CreateTensor<float>(mem, row.data(), row.size(), shape, 2);
    auto r = session.Run(Ort::RunOptions{nullptr}, &input_name, &in, 1, out_names.data(),
                         out_names.size());
    return r.size();
  };

  std::vector<float> row(static_cast<size_t>(width), 0.5f);
  if (seconds <= 0) {  // "once": the floor of a process that loads the model and answers once
    run_once(row);
    std::_Exit(0);  // stop the clock here: ONNX Runtime's teardown is not part of a cold start
  }
  for (int i = 0; i < 200; ++i) run_once(row);  // warm up
  std::vector<double> lat;
  lat.reserve(1 << 20);
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    auto a = Clock::now();
    run_once(row);
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
      std::vector<float> r(static_cast<size_t>(width), 0.5f);
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        run_once(r);
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
      "\"threads\": %d, \"throughput_rps\": %.1f}\n",
      std::chrono::duration<double, std::milli>(t1 - t0).count(),
      std::chrono::duration<double, std::milli>(t2 - t1).count(), lat.size(), pct(0.5), pct(0.99),
      threads, static_cast<double>(count.load()) / seconds);
  return 0;
}
