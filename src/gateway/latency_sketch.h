// Latency percentiles with a bounded relative error (the idea of DDSketch: logarithmic buckets,
// so any quantile it reports is within 1% of a latency that was seen), clamped to the smallest
// and largest latency seen: a p99 is never above the slowest request, unlike interpolation
// inside the coarse Prometheus buckets. Fixed memory (about 9 KB); not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace modelfn {

class LatencySketch {
 public:
  // Relative accuracy of the quantiles; values from 1 microsecond to about 3 hours are bucketed
  // (outside, they count in the first or last bucket and the clamp to min/max keeps them exact).
  static constexpr double kRelativeError = 0.01;

  LatencySketch();
  void Add(double seconds);
  // The q-quantile (0..1) in seconds, 0 when empty: within kRelativeError of the latency of that
  // rank, and within [min, max] of those seen.
  double Quantile(double q) const;
  uint64_t count() const { return count_; }
  double max() const { return max_; }

 private:
  int Index(double seconds) const;
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  double min_ = 0, max_ = 0;
};

}  // namespace modelfn
