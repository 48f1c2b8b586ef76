// First stage: records every answer to a function route in the gateway's metrics (function,
// version, route, status, latency) and writes the access log line of each forwarded request.
// Answers the gateway gives for its own routes, unknown paths and preflights are not counted.
#pragma once

#include "common/clock.h"
#include "common/log.h"
#include "gateway/metrics.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

class ObserveStage final : public Stage {
 public:
  // Not owned; all outlive the stage. `access_log` null: no access log.
  ObserveStage(GatewayMetrics* metrics, const EventLog* access_log, const Clock* clock)
      : metrics_(metrics), access_log_(access_log), clock_(clock) {}
  std::string_view name() const override { return "observe"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override { return Verdict::kNext; }
  void OnAnswer(Exchange& ex) override;

 private:
  GatewayMetrics* metrics_;
  const EventLog* access_log_;
  const Clock* clock_;
};

}  // namespace modelfn::gateway
