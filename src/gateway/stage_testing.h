// In-memory helpers for the stages' unit tests: exchanges, a backend and a continuation.
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "gateway/stage.h"

namespace modelfn::gateway::testing {

inline ExchangePtr MakeExchange(std::string method, std::string target,
                                std::vector<std::pair<std::string, std::string>> headers = {},
                                std::string body = "") {
  auto ex = std::make_unique<Exchange>();
  HttpRequest& r = ex->request;
  r.method = std::move(method);
  r.target = std::move(target);
  size_t q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  r.headers = std::move(headers);
  r.body = std::move(body);
  ex->v2 = r.path.rfind("/v2", 0) == 0;
  return ex;
}

inline const std::string* FindHeader(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

inline size_t CountHeader(const HttpResponse& r, std::string_view name) {
  size_t n = 0;
  for (const auto& [k, v] : r.headers) n += k == name;
  return n;
}

// The "code" of a problem+json (or /v2 error) body, "" when there is none.
inline std::string CodeOf(const HttpResponse& r) {
  auto j = Json::Parse(r.body);
  if (!j.ok() || !j->is_object()) return "";
  const Json* c = j->Find("code");
  return c && c->is_string() ? c->AsString() : "";
}

// Keeps what a deferring stage hands back.
class HeldContinuation final : public Continuation {
 public:
  void Answer(ExchangePtr ex) override {
    std::lock_guard<std::mutex> lock(mu_);
    answered.push_back(std::move(ex));
  }
  std::mutex mu_;
  std::vector<ExchangePtr> answered;
};

// Records each request; replies only when the test says so.
class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(std::string version) : version_(std::move(version)) {}
  std::string version() const override { return version_; }
  void Submit(ForwardRequest request, ReplyFn done) override {
    requests.push_back(std::move(request));
    pending.push_back(std::move(done));
  }
  void ReplyNext(ForwardReply reply) {
    ReplyFn fn = std::move(pending.front());
    pending.erase(pending.begin());
    fn(std::move(reply));
  }
  std::string version_;
  std::vector<ForwardRequest> requests;
  std::vector<ReplyFn> pending;
};

}  // namespace modelfn::gateway::testing
