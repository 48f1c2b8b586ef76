// Gateway metrics: request counts and latency histograms keyed by function, version and route,
// rendered in the Prometheus text format and summarised as percentiles for `modelfn status` and
// the dashboard (from a LatencySketch per function: within 1% of a seen latency, never above the
// slowest). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "gateway/latency_sketch.h"

namespace modelfn {

// Upper bounds of the latency buckets, in seconds (the last bucket is +Inf).
inline constexpr std::array<double, 20> kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    120,  300};

// The latest traced observation of a bucket (OpenMetrics exemplar).
struct Exemplar {
  std::string trace_id;  // "" none
  double value = 0;
  double unix_s = 0;
};

struct LatencyHistogram {
  std::array<uint64_t, kLatencyBuckets.size() + 1> counts{};
  std::array<Exemplar, kLatencyBuckets.size() + 1> exemplars{};
  uint64_t count = 0;
  double sum_s = 0;

  // Returns the bucket's index.
  size_t Add(double seconds);
  // Interpolated within the bucket; 0 when empty.
  double Quantile(double q) const;
};

struct FunctionSummary {
  uint64_t requests = 0;
  uint64_t errors = 0;  // status >= 500
  uint64_t client_errors = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
};

class GatewayMetrics {
 public:
  // `trace_id` (may be empty): the request's trace, kept as its bucket's exemplar.
  void Record(const std::string& function, const std::string& version, const std::string& route,
              int status, double seconds, const std::string& trace_id = "", double unix_s = 0);
  void CountAuthFailure(const std::string& reason);
  void CountRateLimited(const std::string& kind);  // "rate" | "quota"
  void CountCacheHit(const std::string& function);

  // Prometheus text for what the gateway counts (the pools add their own lines); `exemplars`:
  // with the OpenMetrics exemplars of the latency buckets (for ToOpenMetrics).
  std::string Render(bool exemplars = false) const;
  std::map<std::string, FunctionSummary> Summaries() const;  // by function

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // function, version, route
  mutable std::mutex mu_;
  std::map<Key, LatencyHistogram> latency_;
  std::map<std::tuple<std::string, std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, LatencySketch> by_function_;  // the percentiles of Summaries()
  std::map<std::string, FunctionSummary> summaries_;
  std::map<std::string, uint64_t> auth_failures_;
  std::map<std::string, uint64_t> rate_limited_;
  std::map<std::string, uint64_t> cache_hits_;
};

// A Prometheus label value with \, " and newline escaped.
std::string PromLabel(const std::string& v);

// The Prometheus text exposition (0.0.4) as OpenMetrics 1.0: a counter's family is named without
// its `_total` in the HELP and TYPE lines, and "# EOF" ends it. Exemplars already in the text
// ("# {trace_id=...}" after a bucket) are kept: OpenMetrics is the format that carries them.
std::string ToOpenMetrics(const std::string& text);
// True when an Accept header asks for OpenMetrics.
bool WantsOpenMetrics(const std::string* accept);
inline constexpr const char* kOpenMetricsType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

}  // namespace modelfn
