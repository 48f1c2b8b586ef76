#include "gateway/auth_stage.h"

#include <strings.h>

#include <any>
#include <cstdlib>

#include "gateway/answers.h"

namespace modelfn::gateway {
namespace {
constexpr int64_t kUnavailableLogInterval = 10'000'000'000;  // ns
}  // namespace

bool AuthStage::OnHead(HttpRequest* head, HttpResponse* early) {
  if (!enabled()) return true;
  bool v2 = IsV2Path(head->path);
  // A preflight carries no credentials by design; the CORS stage answers it without serving
  // anything.
  if (head->method == "OPTIONS" || !table_->NeedsAuth(head->path)) {
    // Public routes take no body. Reading one would let an unauthenticated client make the
    // gateway buffer up to the body limit on every connection; a small one is still read.
    const std::string* length = head->Header("content-length");
    if (head->Header("transfer-encoding") != nullptr ||
        (length != nullptr &&
         std::strtoull(length->c_str(), nullptr, 10) > kMaxDrainAfterEarlyAnswer)) {
      *early = ProblemAnswer("payload_too_large", "this route takes no request body", v2);
      return false;
    }
    return true;
  }
  Principal who;
  if (!Authenticate(*head, v2, &who, early)) return false;
  head->context = std::move(who);
  return true;
}

Verdict AuthStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  if (ex->local != nullptr && !ex->local->needs_auth) return Verdict::kNext;
  if (const auto* p = std::any_cast<Principal>(&ex->request.context)) {
    ex->principal = *p;
    return Verdict::kNext;
  }
  bool v2 = ex->local == nullptr && ex->v2;
  if (Authenticate(ex->request, v2, &ex->principal, &ex->response)) return Verdict::kNext;
  return Verdict::kAnswered;
}

bool AuthStage::Authenticate(const HttpRequest& req, bool v2, Principal* who,
                             HttpResponse* refusal) {
  if (options_.keys != nullptr) {
    const std::string* key = req.Header("x-api-key");
    if (key == nullptr) {
      metrics_->CountAuthFailure("missing_key");
      *refusal = ProblemAnswer("unauthorized", "an API key is required (header X-Api-Key)", v2);
      return false;
    }
    auto k = options_.keys->Authenticate(*key);
    if (!k.ok() && k.status().code() == StatusCode::kUnavailable) {
      // Fail closed: without the database, revocations cannot be honoured. Say why, not per
      // request: at most one log line every 10 s.
      int64_t now = clock_->MonotonicNanos(), last = last_unavailable_log_ns_.load();
      if ((last == 0 || now - last >= kUnavailableLogInterval) &&
          last_unavailable_log_ns_.compare_exchange_strong(last, now) && log_ != nullptr) {
        log_->Message("error", "refusing keyed requests: " + k.status().message());
      }
      metrics_->CountAuthFailure("auth_unavailable");
      *refusal = ProblemAnswer("auth_unavailable",
                               "API keys cannot be checked right now; see the gateway's log", v2);
      return false;
    }
    if (!k.ok()) {
      bool revoked = k.status().code() == StatusCode::kFailedPrecondition;
      metrics_->CountAuthFailure(revoked ? "revoked_key" : "bad_key");
      *refusal = revoked ? ProblemAnswer("forbidden", "this API key was revoked", v2)
                         : ProblemAnswer("unauthorized", "invalid API key", v2);
      return false;
    }
    who->id = "key:" + k->id;
    who->plan = k->plan;
  }
  if (options_.jwks != nullptr) {
    const std::string* auth = req.Header("authorization");
    if (auth == nullptr || auth->size() < 7 || strncasecmp(auth->c_str(), "Bearer ", 7) != 0) {
      metrics_->CountAuthFailure("missing_token");
      *refusal = ProblemAnswer("unauthorized", "a bearer token is required", v2);
      refusal->headers.emplace_back("WWW-Authenticate", "Bearer");
      return false;
    }
    auto claims = options_.jwks->Verify(std::string_view(*auth).substr(7), options_.jwt_policy,
                                        clock_->WallNanos() / 1'000'000'000);
    if (!claims.ok()) {
      metrics_->CountAuthFailure("bad_token");
      *refusal = ProblemAnswer("unauthorized", "invalid token: " + claims.status().message(), v2);
      // A fixed challenge: the reason is in the (escaped) body, never copied into a header.
      refusal->headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      return false;
    }
    if (who->id.empty()) {
      const Json* sub = claims->Find("sub");
      who->id = "jwt:" + (sub && sub->is_string() ? sub->AsString() : std::string("?"));
    }
  }
  return true;
}

}  // namespace modelfn::gateway
