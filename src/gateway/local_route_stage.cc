#include "gateway/local_route_stage.h"

#include <memory>

#include "gateway/answers.h"
#include "gateway/route_table.h"

namespace modelfn::gateway {

Verdict LocalRouteStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  const LocalRoute* route = ex->local;
  if (route == nullptr) return Verdict::kNext;
  const std::string& method = ex->request.method;
  if (method != "GET" && method != "HEAD") {
    ex->response = ProblemAnswer("method_not_allowed",
                                 method + " " + ex->request.path + " is not served", ex->v2);
    return Verdict::kAnswered;
  }
  if (route->deferred) {
    Exchange* raw = ex.get();
    auto held = std::make_shared<ExchangePtr>(std::move(ex));
    route->deferred(raw->request, [held, &next](HttpResponse r) {
      (*held)->response = std::move(r);
      next.Answer(std::move(*held));
    });
    return Verdict::kDeferred;
  }
  ex->response.status = 200;
  ex->response.content_type = route->content_type;
  ex->response.body = route->negotiated ? route->negotiated(ex->request, &ex->response.content_type)
                                        : route->body();
  return Verdict::kAnswered;
}

}  // namespace modelfn::gateway
