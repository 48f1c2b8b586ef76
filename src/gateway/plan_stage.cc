#include "gateway/plan_stage.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "common/json.h"
#include "gateway/answers.h"

namespace modelfn::gateway {

void QuotaPeriods(int64_t wall_ns, std::string* day, std::string* month, int64_t* to_day_end,
                  int64_t* to_month_end) {
  time_t t = static_cast<time_t>(wall_ns / 1'000'000'000);
  tm u;
  gmtime_r(&t, &u);
  char buf[16];
  strftime(buf, sizeof buf, "%Y-%m-%d", &u);
  *day = buf;
  strftime(buf, sizeof buf, "%Y-%m", &u);
  *month = buf;
  *to_day_end = 86400 - (u.tm_hour * 3600 + u.tm_min * 60 + u.tm_sec);
  tm next = u;
  next.tm_mday = 1;
  next.tm_hour = next.tm_min = next.tm_sec = 0;
  next.tm_mon += 1;
  *to_month_end = static_cast<int64_t>(timegm(&next) - t);
}

Verdict PlanStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  const std::string& plan = ex->principal.plan;
  if (plan.empty() || keys_ == nullptr) return Verdict::kNext;
  for (const PlanConfig& p : plans_) {
    if (p.name == plan) {
      ex->plan = &p;
      return Verdict::kNext;
    }
  }
  ex->response = ProblemAnswer(
      "forbidden", "the key's usage plan '" + plan + "' is not in this configuration", ex->v2);
  return Verdict::kAnswered;
}

Verdict RateLimitStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  const PlanConfig* plan = ex->plan;
  if (plan == nullptr || plan->rate_per_s <= 0) return Verdict::kNext;
  RateDecision d =
      buckets_->Take(ex->principal.id, plan->rate_per_s, plan->burst, clock_->MonotonicNanos());
  Headers& h = ex->plan_headers;
  h.emplace_back("RateLimit-Limit", std::to_string(d.limit));
  h.emplace_back("RateLimit-Remaining", std::to_string(d.remaining));
  h.emplace_back("RateLimit-Reset", std::to_string(static_cast<int64_t>(std::ceil(d.reset_s))));
  h.emplace_back(
      "RateLimit-Policy",
      std::to_string(d.limit) +
          ";w=" + std::to_string(static_cast<int64_t>(std::ceil(plan->burst / plan->rate_per_s))));
  if (d.allowed) return Verdict::kNext;
  metrics_->CountRateLimited("rate");
  ex->response = ProblemAnswer("rate_limited",
                               "usage plan '" + plan->name + "' allows " +
                                   Json::Double(plan->rate_per_s).Dump() + " requests/s",
                               ex->v2);
  ex->response.headers = std::move(h);
  h.clear();
  ex->response.headers.emplace_back(
      "Retry-After",
      std::to_string(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(d.retry_after_s)))));
  return Verdict::kAnswered;
}

void RateLimitStage::OnAnswer(Exchange& ex) {
  for (auto& h : ex.plan_headers) ex.response.headers.push_back(h);
}

Verdict QuotaStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  const PlanConfig* plan = ex->plan;
  if (plan == nullptr || keys_ == nullptr || (plan->daily_quota <= 0 && plan->monthly_quota <= 0))
    return Verdict::kNext;
  std::string day, month;
  int64_t to_day, to_month;
  QuotaPeriods(clock_->WallNanos(), &day, &month, &to_day, &to_month);
  std::string id = ex->principal.id.substr(4);  // after "key:"
  struct Q {
    int64_t limit;
    const std::string& period;
    int64_t retry;
    const char* what;
  };
  for (const Q& q : {Q{plan->daily_quota, day, to_day, "daily"},
                     Q{plan->monthly_quota, month, to_month, "monthly"}}) {
    if (q.limit <= 0) continue;
    auto used = keys_->AddUsage(id, q.period, 1);
    if (!used.ok()) continue;  // never refuse because counting failed
    if (*used > q.limit) {
      (void)keys_->AddUsage(id, q.period, -1);  // a refused request is not usage
      metrics_->CountRateLimited("quota");
      ex->response = ProblemAnswer("quota_exceeded",
                                   std::string("the ") + q.what + " quota of " +
                                       std::to_string(q.limit) + " requests is used up",
                                   ex->v2);
      ex->response.headers.emplace_back("Retry-After", std::to_string(q.retry));
      // A quota refusal carries Retry-After only: the rate limit's fields describe a bucket
      // that is not why the request was refused.
      ex->plan_headers.clear();
      return Verdict::kAnswered;
    }
  }
  return Verdict::kNext;
}

}  // namespace modelfn::gateway
