#include "gateway/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace modelfn {

RateDecision RateLimiter::Take(const std::string& key, double rate_per_s, double burst,
                               int64_t now_ns) {
  RateDecision d;
  d.limit = static_cast<int64_t>(burst);
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& b = buckets_[key];
  if (!b.initialised) {
    b.tokens = burst;
    b.updated_ns = now_ns;
    b.initialised = true;
  }
  double elapsed = static_cast<double>(std::max<int64_t>(0, now_ns - b.updated_ns)) / 1e9;
  b.tokens = std::min(burst, b.tokens + elapsed * rate_per_s);
  b.updated_ns = now_ns;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    d.allowed = true;
  } else {
    d.allowed = false;
    d.retry_after_s = rate_per_s > 0 ? (1.0 - b.tokens) / rate_per_s : 1.0;
  }
  d.remaining = static_cast<int64_t>(std::floor(b.tokens));
  d.reset_s = rate_per_s > 0 ? (burst - b.tokens) / rate_per_s : 0;
  return d;
}

}  // namespace modelfn
