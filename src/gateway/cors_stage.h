// CORS (gateway.cors_origins): answers OPTIONS preflights itself (they carry no credentials by
// design and serve nothing), and adds Access-Control-Allow-Origin and friends to every answer
// for an allowed Origin.
#pragma once

#include <string>
#include <vector>

#include "gateway/stage.h"

namespace modelfn::gateway {

class CorsStage final : public Stage {
 public:
  // `origins`: allowed Origin values; "*" allows any.
  explicit CorsStage(std::vector<std::string> origins) : origins_(std::move(origins)) {}
  std::string_view name() const override { return "cors"; }
  void OnEarlyAnswer(const HttpRequest& head, HttpResponse* early) const override;
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;
  void OnAnswer(Exchange& ex) override;

  bool OriginAllowed(const std::string& origin) const;

 private:
  // The fields for `request`'s Origin, when it sent an allowed one.
  void AddFields(const HttpRequest& request, HttpResponse* resp) const;

  std::vector<std::string> origins_;
};

}  // namespace modelfn::gateway
