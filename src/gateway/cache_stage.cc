#include "gateway/cache_stage.h"

#include <strings.h>

#include "common/sha256.h"

namespace modelfn::gateway {

Verdict CacheStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  if (!ex->function->response_cache || ex->v2_meta) return Verdict::kNext;
  const HttpRequest& req = ex->request;
  // Everything the instance is given (the forwarded fields too: they change how the body is read
  // and what is answered). Only the body may hold a newline, and it comes last.
  auto field = [&req](std::string_view name) {
    const std::string* v = req.Header(name);
    return v ? *v : std::string();
  };
  ex->cache_key = Sha256Hex(ex->function->name + "\n" + ex->variant->backend->version() + "\n" +
                            ex->path + "\n" + req.query + "\n" + field("content-type") + "\n" +
                            field("inference-header-content-length") + "\n" + field("accept") +
                            "\n" + req.body);
  ResponseCache::Entry hit;
  if (!cache_->Find(ex->cache_key, &hit)) return Verdict::kNext;
  metrics_->CountCacheHit(ex->function->name);
  HttpResponse& r = ex->response;
  r.status = hit.status;
  r.content_type = std::move(hit.content_type);
  r.body = std::move(hit.body);
  r.headers = std::move(hit.headers);
  r.headers.emplace_back("X-Modelfn-Cache", "hit");
  r.headers.emplace_back("X-Modelfn-Version", std::move(hit.version));
  ex->cache_key.clear();  // nothing to store
  return Verdict::kAnswered;
}

void CacheStage::OnAnswer(Exchange& ex) {
  if (ex.cache_key.empty() || !ex.forwarded || ex.reply.status != 200 || !ex.reply.code.empty())
    return;
  ResponseCache::Entry e;
  e.status = ex.reply.status;
  e.content_type = ex.reply.content_type;
  e.body = ex.response.body;
  e.version = ex.reply.version;
  for (const auto& [k, v] : ex.reply.headers) {
    // The id is the request's own; a hit carries the new request's id.
    if (strcasecmp(k.c_str(), "x-request-id") != 0) e.headers.emplace_back(k, v);
  }
  cache_->Insert(ex.cache_key, std::move(e));
}

bool ResponseCache::Find(const std::string& key, Entry* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  *out = it->second;
  return true;
}

void ResponseCache::Insert(const std::string& key, Entry entry) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.emplace(key, std::move(entry)).second) {
    order_.push_back(key);
    if (order_.size() > capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
  }
}

size_t ResponseCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace modelfn::gateway
