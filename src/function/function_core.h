// The handler core of a function instance: routes an Invocation to the seed API, the Open
// Inference Protocol, health and metrics, and returns an Outcome. It knows nothing of the
// transport (HTTP server, Lambda loop, Azure custom handler): each face only translates.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "engine/engine.h"
#include "function/batch_policy.h"
#include "function/batcher.h"
#include "function/inference.h"
#include "function/stats.h"
#include "http/problem.h"
#include "observe/tracer.h"

namespace modelfn {

struct Invocation {
  std::string_view method;
  std::string_view path;
  std::string_view query;
  std::string_view body;
  const std::string* content_type = nullptr;             // absent when null
  const std::string* request_id = nullptr;               // X-Request-Id; generated when null
  const std::string* inference_header_length = nullptr;  // Inference-Header-Content-Length
  int64_t deadline_wall_ms = 0;  // Unix ms by which the answer is due (Lambda); 0: none
  // The trace context received (traceparent, or Lambda's X-Ray header); null: none, or the
  // ambient one (AmbientTrace) when a face handles an event of several inferences.
  const observe::TraceContext* trace = nullptr;
};

// The trace of the event a face is handling on this thread (Lambda's S3 and SQS records), for the
// inferences it makes without a context of their own: each object's Runs then hang in the
// delivery's trace. Set for a scope.
class AmbientTrace {
 public:
  explicit AmbientTrace(const observe::TraceContext* trace);
  ~AmbientTrace();
  AmbientTrace(const AmbientTrace&) = delete;
  AmbientTrace& operator=(const AmbientTrace&) = delete;
  static const observe::TraceContext* Current();

 private:
  const observe::TraceContext* prev_;
};

struct Outcome {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// What the init phase measured; reported in the init log line, /v1/health and /metrics.
struct InitTimings {
  double runtime_init_ms = 0;  // process start (main) to ready
  double model_fetch_ms = 0;   // bringing the model files local (0 for a local folder)
  // Checking the files against manifest.json: the sha256 of each runs on another thread while the
  // session is made (model_digest_ms, its own duration); model_verify_ms is what checking added
  // to init (reading and inspecting the model, then waiting for what was left of the digests).
  double model_verify_ms = 0;
  double model_digest_ms = 0;
  double model_load_ms = 0;  // engine creation (ONNX Runtime environment and session)
  double ort_env_ms = 0;     // of which: the ONNX Runtime environment
  double warmup_ms = 0;      // one run on zero inputs
  // A model from a store: the host cache's answer ("hit", "miss", ...); empty for a folder.
  std::string model_cache;
  // A text model's tokenizer, loaded on another thread while the engine is made: how long the
  // load took there, and how long init then waited for it (what it added to init). -1: none.
  double tokenizer_load_ms = -1;
  double tokenizer_wait_ms = -1;
};

struct FunctionIdentity {
  std::string model_name;
  std::string model_version;
};

class FunctionCore {
 public:
  // `clock` and `log` must outlive the core.
  FunctionCore(std::unique_ptr<Engine> engine, FunctionIdentity id, InferenceLimits limits,
               const Clock* clock, const EventLog* log);

  // Handles one invocation. Thread-safe. Never throws; every failure becomes an error Outcome.
  // Runs the model on the caller's thread, batching or not.
  Outcome Handle(const Invocation& inv);

  // The same, answering through `done`: with batching enabled, an inference (/v1/infer, V2
  // infer) is prepared on the caller's thread and queued for the batcher, whose runner thread
  // then calls `done`; everything else (and every request without batching) calls `done` before
  // returning. `inv` need not outlive this call.
  // `client_gone` (HttpResponder::gone_flag): a request still queued when it is set is dropped
  // with 499 `client_closed` instead of run.
  void HandleAsync(const Invocation& inv, std::function<void(Outcome)> done,
                   std::shared_ptr<const std::atomic<bool>> client_gone = nullptr);

  // Turns dynamic batching on (batcher.h) for HandleAsync, and measures the model's Run time per
  // batch size. Call before the first request. The error of calibration is returned (batching
  // stays on and learns from real runs).
  Status EnableBatching(const BatchingOptions& options);
  const Batcher* batcher() const { return batcher_.get(); }

  // Marks the end of the init phase (timings for health/metrics) and flips readiness.
  void SetReady(const InitTimings& timings);
  // Spans of inference requests (with decode, Run and encode) and, on the first, of the init
  // go to `tracer` when their trace is sampled (observe/tracer.h). Call before the first Handle.
  void SetTracer(observe::Tracer* tracer) { tracer_ = tracer; }
  // After each inference, one CloudWatch Embedded Metric Format document on the request log
  // (docs/lambda.md "Metrics"): in `metric_namespace`, by FunctionName = `function_name`.
  void EnableEmf(std::string metric_namespace, std::string function_name);
  bool ready() const { return ready_.load(); }
  // A second name /v1/models/{name}/... and /v2/models/{name}/... answer to besides the model's:
  // the modelfn.yaml function it is deployed as, behind an API that forwards the platform's
  // per-function routes unchanged (API Gateway). Call before the first Handle.
  void SetRouteName(std::string name) { route_name_ = std::move(name); }
  Engine& engine() { return *engine_; }
  const RouteStats& stats() const { return stats_; }

 private:
  // True for the model's name and for the route name it is deployed under.
  bool AnsweredName(std::string_view name) const {
    return name == id_.model_name || (!route_name_.empty() && name == route_name_);
  }

  enum Route : size_t {
    kInfer,
    kBatch,
    kV2Infer,
    kHealth,
    kModels,
    kV2Meta,
    kMetrics,
    kOther,
    kRouteCount
  };

  // An inference whose run was left to the batcher: its inputs, and how its outputs become the
  // answer. Dispatch returns an Outcome of status 0 when it filled one.
  struct Deferred {
    PreparedInputs prepared;
    RunLimits limits;
    std::function<Outcome(StatusOr<std::vector<Tensor>>, const PreparedInputs&,
                          std::string* error_code)>
        finish;
  };
  // What the request log line needs of an invocation once it is gone.
  struct RequestFacts {
    int64_t t0 = 0;
    int64_t wall_t0 = 0;
    std::optional<observe::TraceContext> trace;  // received
    int64_t run_start = 0, run_end = 0;          // monotonic; 0 when no Run (or batched)
    int64_t rows = 0;                            // the Run's first dimension
    std::string request_id;
    std::string method;
    std::string path;
    size_t input_bytes = 0;
  };
  RequestFacts Facts(const Invocation& inv, int64_t t0);
  // Stats, the X-Request-Id header and the request log line; `batch` when the batcher ran it.
  void Finish(const RequestFacts& facts, Route route, const std::string& error_code, Outcome* out,
              const BatchedResult* batch);

  // `deferred` non-null: an inference may be left to the batcher (see Deferred).
  Outcome Dispatch(const Invocation& inv, Route* route, std::string* error_code,
                   Deferred* deferred);
  std::optional<Json> JsonRequestBody(const Invocation& inv, Problem* problem) const;
  Outcome Infer(const Invocation& inv, const RunLimits& limits, std::string* error_code,
                Deferred* deferred);
  Outcome Batch(const Invocation& inv, const RunLimits& limits, std::string* error_code);
  Outcome V2(const Invocation& inv, const RunLimits& limits, Route* route, std::string* error_code,
             Deferred* deferred);
  Outcome V2Infer(const Invocation& inv, const RunLimits& limits, std::string* error_code,
                  Deferred* deferred);
  // Runs `prepared` now and finishes it, or (deferred non-null) leaves both to the batcher.
  Outcome RunOrDefer(
      PreparedInputs prepared, const RunLimits& limits,
      std::function<Outcome(StatusOr<std::vector<Tensor>>, const PreparedInputs&, std::string*)>
          finish,
      std::string* error_code, Deferred* deferred);
  Outcome Health();
  Outcome Models();
  Outcome Metrics();
  std::string NextRequestId();

  std::unique_ptr<Engine> engine_;
  FunctionIdentity id_;
  std::string route_name_;
  InferenceLimits limits_;
  const Clock* clock_;
  const EventLog* log_;
  RouteStats stats_;
  InitTimings timings_;
  int64_t ready_wall_ns_ = 0;
  observe::Tracer* tracer_ = nullptr;
  bool emf_ = false;
  std::string emf_namespace_, emf_function_;
  void WriteEmf(const RequestFacts& facts, int status, const std::string& error_code, bool cold,
                const BatchedResult* batch, int64_t micros);
  void RecordSpans(const observe::Tracer::Begun& b, const RequestFacts& facts, Route route,
                   int status, bool cold, const BatchedResult* batch, int64_t end_mono);
  int64_t start_nanos_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> cold_{true};
  std::atomic<uint64_t> next_id_{0};
  std::string id_prefix_;
  // Declared after engine_: goes first, its runners done before the engine is.
  std::unique_ptr<Batcher> batcher_;
};

}  // namespace modelfn
