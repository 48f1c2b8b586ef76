// Per-route request counters and latency distributions, lock-free on the request path, rendered
// as Prometheus text. Quantiles come from a log-linear histogram (16 buckets per power of two,
// about 3 % relative error), so p50/p95/p99 cost no sorting and no sample storage.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace modelfn {

class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 16;
  static constexpr int kBuckets = kSubBuckets + 44 * kSubBuckets;

  void Record(int64_t micros);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const {
    return static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
  }
  // Value in microseconds at quantile q in [0, 1]; 0 when empty. Safe to call while recording.
  double QuantileMicros(double q) const;

  static int BucketOf(int64_t micros);
  static double BucketMidMicros(int bucket);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

class RouteStats {
 public:
  // `routes` are fixed labels ("/v1/infer", ...); index them with Record(route_index, ...).
  explicit RouteStats(std::vector<std::string> routes);
  void Record(size_t route, int http_status, int64_t micros);
  const LatencyHistogram& latency(size_t route) const { return routes_[route]->latency; }
  uint64_t Count(size_t route, int http_status) const;
  uint64_t Total() const;

  // Appends modelfn_requests_total and modelfn_request_duration_seconds (summary with quantiles
  // 0.5, 0.95, 0.99) in Prometheus text format 0.0.4.
  void AppendPrometheus(std::string* out) const;

 private:
  struct Route {
    std::string label;
    LatencyHistogram latency;
    std::array<std::atomic<uint64_t>, 500> by_status{};  // 100..599
  };
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace modelfn
