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
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(ex->cache_key);
  if (it == entries_.end()) return Verdict::kNext;
  metrics_->CountCacheHit(ex->function->name);
  HttpResponse& r = ex->response;
  r.status = it->second.status;
  r.content_type = it->second.content_type;
  r.body = it->second.body;
  r.headers = it->second.headers;
  r.headers.emplace_back("X-Modelfn-Cache", "hit");
  r.headers.emplace_back("X-Modelfn-Version", it->second.version);
  ex->cache_key.clear();  // nothing to store
  return Verdict::kAnswered;
}

void CacheStage::OnAnswer(Exchange& ex) {
  if (ex.cache_key.empty() || !ex.forwarded || ex.reply.status != 200 || !ex.reply.code.empty())
    return;
  Entry e;
  e.status = ex.reply.status;
  e.content_type = ex.reply.content_type;
  e.body = ex.response.body;
  e.version = ex.reply.version;
  for (const auto& [k, v] : ex.reply.headers) {
    // The id is the request's own; a hit carries the new request's id.
    if (strcasecmp(k.c_str(), "x-request-id") != 0) e.headers.emplace_back(k, v);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.emplace(ex.cache_key, std::move(e)).second) {
    order_.push_back(ex.cache_key);
    if (order_.size() > capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
  }
}

size_t CacheStage::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace modelfn::gateway
