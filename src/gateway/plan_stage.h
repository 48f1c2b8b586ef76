// Usage plans (plans: in modelfn.yaml) of API keys, in three stages:
//   PlanStage       finds the key's plan (403 when the configuration no longer has it);
//   RateLimitStage  takes a token from the key's bucket (429 rate_limited with Retry-After), and
//                   puts RateLimit-* fields on every answer it let through;
//   QuotaStage      counts the request against the daily and monthly quotas in the keys
//                   database (429 quota_exceeded with Retry-After until the period ends). A
//                   refused request is not counted; a failure to count never refuses.
// Requests without a plan (no API key, or a key without one) pass all three.
#pragma once

#include <vector>

#include "common/clock.h"
#include "gateway/keys.h"
#include "gateway/metrics.h"
#include "gateway/rate_limit.h"
#include "gateway/stage.h"
#include "platform/config.h"

namespace modelfn::gateway {

class PlanStage final : public Stage {
 public:
  // `keys` null: API keys are off and no request has a plan.
  PlanStage(std::vector<PlanConfig> plans, const KeyStore* keys)
      : plans_(std::move(plans)), keys_(keys) {}
  std::string_view name() const override { return "plan"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;

 private:
  std::vector<PlanConfig> plans_;
  const KeyStore* keys_;
};

class RateLimitStage final : public Stage {
 public:
  // `buckets` outlives the stage; it is shared across reloads so a reload refills no bucket.
  RateLimitStage(RateLimiter* buckets, GatewayMetrics* metrics, const Clock* clock)
      : buckets_(buckets), metrics_(metrics), clock_(clock) {}
  std::string_view name() const override { return "rate_limit"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;
  void OnAnswer(Exchange& ex) override;

 private:
  RateLimiter* buckets_;
  GatewayMetrics* metrics_;
  const Clock* clock_;
};

class QuotaStage final : public Stage {
 public:
  QuotaStage(KeyStore* keys, GatewayMetrics* metrics, const Clock* clock)
      : keys_(keys), metrics_(metrics), clock_(clock) {}
  std::string_view name() const override { return "quota"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;

 private:
  KeyStore* keys_;
  GatewayMetrics* metrics_;
  const Clock* clock_;
};

// "2026-11-28" and "2026-11" for `wall_ns`, and the seconds until the next UTC day and month.
void QuotaPeriods(int64_t wall_ns, std::string* day, std::string* month, int64_t* to_day_end,
                  int64_t* to_month_end);

}  // namespace modelfn::gateway
