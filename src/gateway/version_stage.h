// Chooses the function version (canary): the one the path pins (404 when not served), else by
// the traffic weights, at random or (sticky_traffic) by a hash of the request id so a client that
// repeats its X-Request-Id keeps its version.
#pragma once

#include <cstdint>

#include "gateway/stage.h"

namespace modelfn::gateway {

class VersionStage final : public Stage {
 public:
  std::string_view name() const override { return "version"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;

  // The variant for `point` in [0, total_weight).
  static VariantRoute* ByWeight(FunctionRoute* fn, uint64_t point);
};

// The sticky split's hash, stable across builds and restarts: FNV-1a's steps from the offset
// 1469598103934665603 (not the published basis; kept so that sticky clients keep their version).
uint64_t Fnv1a(std::string_view s);

}  // namespace modelfn::gateway
