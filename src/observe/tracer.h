// Spans and their export: a process's finished spans are queued and sent in batches, off the
// request path, as OTLP/HTTP JSON (the OpenTelemetry protocol's JSON encoding, POSTed to the
// collector's /v1/traces) to any collector: Jaeger, the OpenTelemetry Collector, a vendor's.
// Off (no endpoint) or unsampled, nothing is built or queued: callers check ctx.sampled first.
// Thread-safe.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "http/http_client.h"
#include "observe/trace_context.h"

namespace modelfn::observe {

using AttrValue = std::variant<std::string, int64_t, double, bool>;

struct Span {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  std::array<uint8_t, 8> parent_span_id{};  // all zero: a root span
  std::string name;
  enum class Kind { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4 } kind = Kind::kInternal;
  int64_t start_unix_ns = 0, end_unix_ns = 0;
  std::vector<std::pair<std::string, AttrValue>> attributes;
  bool error = false;
  std::string status_message;
};

struct TracerConfig {
  std::string endpoint;       // the full URL spans are POSTed to; empty: tracing off
  double sample_ratio = 1.0;  // of the traces this process starts (a received context decides
                              // its own: parent-based)
  std::vector<std::pair<std::string, std::string>> resource;  // service.name first
  size_t max_queue = 8192;  // spans waiting; more are dropped (counted)
  size_t max_batch = 512;
  int flush_ms = 500;

  // MODELFN_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: /v1/traces is added), or
  // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL); MODELFN_TRACE_SAMPLE, else
  // OTEL_TRACES_SAMPLER_ARG (0-1, default 1). OTEL_SERVICE_NAME overrides `service_name`.
  static TracerConfig FromEnv(
      const std::function<std::optional<std::string>(const std::string&)>& env,
      const std::string& service_name);
};

// OTLP/HTTP JSON for `spans` (one resource, one scope). Pure.
std::string OtlpJson(const std::vector<Span>& spans,
                     const std::vector<std::pair<std::string, std::string>>& resource);

class Tracer {
 public:
  // `http` posts the batches (null when the config is off).
  Tracer(TracerConfig config, std::unique_ptr<HttpClient> http, const Clock* clock);
  ~Tracer();  // sends what is queued (waiting at most a few seconds), then stops
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  bool enabled() const { return enabled_; }

  // The context this process continues for a request: the received one (its trace, its
  // sampling decision, its span as our parent) or a new trace sampled by the ratio. `span_id` of
  // the result is a new id for this process's span, `parent` the received span (zero for a root).
  struct Begun {
    TraceContext ctx;
    std::array<uint8_t, 8> parent{};
  };
  Begun Begin(const std::optional<TraceContext>& received);
  std::array<uint8_t, 8> NewSpanId();

  // Queues a finished span of a sampled trace (dropped when tracing is off or the queue is full).
  void Record(Span span);
  // Sends what is queued now and waits for it (tests, shutdown).
  void Flush();

  struct Counters {
    uint64_t exported = 0, dropped = 0, export_errors = 0;
  };
  Counters counters() const;

 private:
  void Run();
  bool SendBatch(std::vector<Span> batch);

  const TracerConfig config_;
  const bool enabled_;
  std::unique_ptr<HttpClient> http_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable flushed_;
  std::deque<Span> queue_;
  bool stop_ = false;
  uint64_t flush_requested_ = 0, flush_done_ = 0;
  std::mt19937_64 rng_;
  Counters counters_;
  std::thread thread_;
};

}  // namespace modelfn::observe
