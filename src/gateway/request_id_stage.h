// Gives each request its id: the client's X-Request-Id when it is safe to echo
// (IsSafeRequestId), else a new random one. Every answer carries it, early ones too.
#pragma once

#include "gateway/stage.h"

namespace modelfn::gateway {

class RequestIdStage final : public Stage {
 public:
  std::string_view name() const override { return "request_id"; }
  void OnEarlyAnswer(const HttpRequest& head, HttpResponse* early) const override;
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;
  void OnAnswer(Exchange& ex) override;
};

// The client's id when safe to echo, else a new one.
std::string RequestIdOf(const HttpRequest& request);

}  // namespace modelfn::gateway
