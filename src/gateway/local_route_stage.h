// Answers the local routes (route_table.h) the route stage chose, once the request is
// authenticated: GET or HEAD only (405 otherwise).
#pragma once

#include "gateway/stage.h"

namespace modelfn::gateway {

class LocalRouteStage final : public Stage {
 public:
  std::string_view name() const override { return "local_routes"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;
};

}  // namespace modelfn::gateway
