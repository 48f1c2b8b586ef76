// Token buckets per key (usage plans' rate_per_s and burst), on an injected time base. A bucket
// starts full; each request takes one token; tokens refill continuously at `rate` per second up to
// `burst`. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace modelfn {

struct RateDecision {
  bool allowed = true;
  double retry_after_s = 0;  // when refused: until one token is back
  int64_t limit = 0;         // the burst
  int64_t remaining = 0;     // whole tokens left after this request
  double reset_s = 0;        // until the bucket is full again
};

class RateLimiter {
 public:
  RateDecision Take(const std::string& key, double rate_per_s, double burst, int64_t now_ns);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ns = 0;
    bool initialised = false;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace modelfn
