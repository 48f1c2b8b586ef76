// The opt-in response cache (a function's response_cache: true, for deterministic models):
// identical requests to the same version are answered from memory. The key covers everything the
// instance is given. Only 200 answers of the function itself are kept; at most `capacity`
// entries, the oldest evicted first. /v2 metadata GETs are never cached.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gateway/metrics.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

class CacheStage final : public Stage {
 public:
  CacheStage(GatewayMetrics* metrics, size_t capacity = 1024)
      : metrics_(metrics), capacity_(capacity) {}
  std::string_view name() const override { return "cache"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;
  void OnAnswer(Exchange& ex) override;

  size_t size() const;

 private:
  struct Entry {
    int status = 200;
    std::string content_type;
    Headers headers;
    std::string body;
    std::string version;
  };

  GatewayMetrics* metrics_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;  // insertion order, for eviction
};

}  // namespace modelfn::gateway
