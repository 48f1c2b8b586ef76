// The opt-in response cache (a function's response_cache: true, for deterministic models):
// identical requests to the same version are answered from memory. The key covers everything the
// instance is given. Only 200 answers of the function itself are kept; at most `capacity`
// entries (ResponseCache). /v2 metadata GETs are never cached.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gateway/metrics.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

// The entries, bounded: at most `capacity`, the oldest evicted first. Thread-safe. Outlives
// configuration reloads (the key names the function's version, so entries stay right).
class ResponseCache {
 public:
  struct Entry {
    int status = 200;
    std::string content_type;
    Headers headers;
    std::string body;
    std::string version;
  };
  explicit ResponseCache(size_t capacity = 1024) : capacity_(capacity) {}
  // A copy of the entry under `key`; false when there is none.
  bool Find(const std::string& key, Entry* out) const;
  // Keeps the first entry stored under a key.
  void Insert(const std::string& key, Entry entry);
  size_t size() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;  // insertion order, for eviction
};

class CacheStage final : public Stage {
 public:
  // Neither is owned; both outlive the stage.
  CacheStage(ResponseCache* cache, GatewayMetrics* metrics) : cache_(cache), metrics_(metrics) {}
  std::string_view name() const override { return "cache"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;
  void OnAnswer(Exchange& ex) override;

 private:
  ResponseCache* cache_;
  GatewayMetrics* metrics_;
};

}  // namespace modelfn::gateway
