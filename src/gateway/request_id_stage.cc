#include "gateway/request_id_stage.h"

#include "gateway/answers.h"

namespace modelfn::gateway {

std::string RequestIdOf(const HttpRequest& request) {
  const std::string* id = request.Header("x-request-id");
  return id && IsSafeRequestId(*id) ? *id : NewRequestId();
}

void RequestIdStage::OnEarlyAnswer(const HttpRequest& head, HttpResponse* early) const {
  early->headers.emplace_back("X-Request-Id", RequestIdOf(head));
}

Verdict RequestIdStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  ex->request_id = RequestIdOf(ex->request);
  ex->v2 = IsV2Path(ex->request.path);
  return Verdict::kNext;
}

void RequestIdStage::OnAnswer(Exchange& ex) {
  ex.response.headers.emplace_back("X-Request-Id", ex.request_id);
}

}  // namespace modelfn::gateway
