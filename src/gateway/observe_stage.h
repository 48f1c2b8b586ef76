// First stage: records every answer to a function route in the gateway's metrics (function,
// version, route, status, latency) and writes the access log line of each forwarded request.
// Answers the gateway gives for its own routes, unknown paths and preflights are not counted.
// With a tracer, a request continues the trace its `traceparent` names (or starts one), and a
// sampled one's spans are recorded at its answer: the gateway's server span, its stages before
// the forward (auth, plans, limits, cache), and the forward, with the wait for an instance
// (queue wait; cold_start when one was started for it) inside; the instance's own spans hang
// under the forward (forward_stage.cc passes the context on).
#pragma once

#include "common/clock.h"
#include "common/log.h"
#include "gateway/metrics.h"
#include "gateway/stage.h"
#include "gateway/traffic_recorder.h"

namespace modelfn::gateway {

class ObserveStage final : public Stage {
 public:
  // Not owned; all outlive the stage. `access_log` null: no access log.
  // `traffic` (may be null) records the arrival of each forwarded request.
  ObserveStage(GatewayMetrics* metrics, const EventLog* access_log, const Clock* clock,
               observe::Tracer* tracer = nullptr, TrafficRecorder* traffic = nullptr)
      : metrics_(metrics),
        access_log_(access_log),
        clock_(clock),
        tracer_(tracer),
        traffic_(traffic) {}
  std::string_view name() const override { return "observe"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;
  void OnAnswer(Exchange& ex) override;

 private:
  void RecordSpans(Exchange& ex);
  GatewayMetrics* metrics_;
  const EventLog* access_log_;
  const Clock* clock_;
  observe::Tracer* tracer_;
  TrafficRecorder* traffic_;
};

}  // namespace modelfn::gateway
