// Chooses what serves the request: a local route (route_table.h), or a function and the path it
// sees. Function routes:
//   /v1/models/{name}/infer|batch
//   /v1/infer, /v1/batch: ?model=, then "model" in the body, then the only function
//   /v2/models/{name}[/versions/{v}][/infer|/ready] (rewritten to the model's own name)
// Answers 404 (unknown function or path), 400 (several functions, none chosen) and 405 (POST for
// inference, GET for /v2 metadata).
#pragma once

#include <memory>
#include <vector>

#include "common/status.h"
#include "gateway/route_table.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

class RouteStage final : public Stage {
 public:
  // Shared with the other stages of the same configuration; neither changes once built.
  RouteStage(std::shared_ptr<const RouteTable> table,
             std::shared_ptr<std::vector<FunctionRoute>> functions)
      : table_(std::move(table)), functions_(std::move(functions)) {}
  std::string_view name() const override { return "route"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;

  // Fills ex's function, path, version and route from its request. Errors carry the problem
  // code as their reason.
  Status Resolve(Exchange& ex) const;

 private:
  FunctionRoute* Find(std::string_view name) const;
  Status Unknown(std::string_view name) const;

  std::shared_ptr<const RouteTable> table_;
  std::shared_ptr<std::vector<FunctionRoute>> functions_;
};

}  // namespace modelfn::gateway
