// Authenticates the sender: API keys (X-Api-Key, keys.h) and JWT bearer tokens (jwt.h), both
// when both are on. The check runs on the request head (OnHead), so a refused client never makes
// the gateway buffer its body; OnRequest takes the Principal the head check stored, or checks
// again when none was stored. Routes that need no credentials (RouteTable::NeedsAuth) take no
// body either: a large one is refused from the head. Keys fail closed: when the database cannot
// be read, keyed requests get 503 auth_unavailable.
#pragma once

#include <atomic>
#include <memory>

#include "common/clock.h"
#include "common/log.h"
#include "gateway/jwt.h"
#include "gateway/keys.h"
#include "gateway/metrics.h"
#include "gateway/route_table.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

struct AuthOptions {
  KeyStore* keys = nullptr;            // null: API keys are off
  const JwksVerifier* jwks = nullptr;  // null: JWT is off
  JwtPolicy jwt_policy;
};

class AuthStage final : public Stage {
 public:
  // Raw pointers are not owned and outlive the stage.
  AuthStage(AuthOptions options, std::shared_ptr<const RouteTable> table, GatewayMetrics* metrics,
            const Clock* clock, const EventLog* log)
      : options_(std::move(options)),
        table_(std::move(table)),
        metrics_(metrics),
        clock_(clock),
        log_(log) {}
  std::string_view name() const override { return "authenticate"; }
  bool OnHead(HttpRequest* head, HttpResponse* early) override;
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;

  // Fills *who from the request's credentials; false with *refusal (401, 403, 503) otherwise.
  bool Authenticate(const HttpRequest& req, bool v2, Principal* who, HttpResponse* refusal);

 private:
  bool enabled() const { return options_.keys != nullptr || options_.jwks != nullptr; }

  AuthOptions options_;
  std::shared_ptr<const RouteTable> table_;
  GatewayMetrics* metrics_;
  const Clock* clock_;
  const EventLog* log_;
  std::atomic<int64_t> last_unavailable_log_ns_{0};
};

}  // namespace modelfn::gateway
