// The last stage: hands the request to the chosen version's Backend and completes the exchange
// when it replies (from the backend's thread). Platform errors under /v2 take the protocol's
// error shape; the backend's own X-Request-Id is replaced by the gateway's.
#pragma once

#include "common/clock.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

class ForwardStage final : public Stage {
 public:
  // `clock` (may be null in tests) times the forward for the trace's spans.
  explicit ForwardStage(const Clock* clock = nullptr) : clock_(clock) {}
  std::string_view name() const override { return "forward"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;

  // Fills ex.response (and ex.reply's metadata) from the backend's reply.
  static void TakeReply(Exchange& ex, ForwardReply reply);

 private:
  const Clock* clock_;
};

}  // namespace modelfn::gateway
