#include "gateway/latency_sketch.h"

#include <algorithm>
#include <cmath>

namespace modelfn {
namespace {

constexpr double kGamma = (1 + LatencySketch::kRelativeError) / (1 - LatencySketch::kRelativeError);
constexpr double kMinSeconds = 1e-6;
constexpr int kBuckets = 1120;  // kMinSeconds * kGamma^1120 is about 5 hours

const double kLogGamma = std::log(kGamma);

}  // namespace

LatencySketch::LatencySketch() : buckets_(kBuckets, 0) {}

int LatencySketch::Index(double seconds) const {
  if (!(seconds > kMinSeconds)) return 0;
  int i = static_cast<int>(std::ceil(std::log(seconds / kMinSeconds) / kLogGamma));
  return std::clamp(i, 0, kBuckets - 1);
}

void LatencySketch::Add(double seconds) {
  if (std::isnan(seconds)) return;
  if (seconds < 0) seconds = 0;
  ++buckets_[static_cast<size_t>(Index(seconds))];
  if (count_ == 0 || seconds < min_) min_ = seconds;
  if (count_ == 0 || seconds > max_) max_ = seconds;
  ++count_;
}

double LatencySketch::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the quantile (nearest rank, 0-based), then the bucket holding it.
  const uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))) - (q > 0);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[static_cast<size_t>(i)];
    if (seen > rank) {
      // Bucket i holds (kMinSeconds * gamma^(i-1), kMinSeconds * gamma^i]; its midpoint in
      // relative terms is within kRelativeError of everything in it.
      if (i == kBuckets - 1 || rank + 1 == count_) return max_;  // overflow bucket, or the last
      double v = i == 0 ? min_ : kMinSeconds * std::pow(kGamma, i) * 2 / (kGamma + 1);
      return std::clamp(v, min_, max_);
    }
  }
  return max_;
}

}  // namespace modelfn
