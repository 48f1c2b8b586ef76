#include "gateway/cors_stage.h"

#include "gateway/answers.h"

namespace modelfn::gateway {

bool CorsStage::OriginAllowed(const std::string& origin) const {
  for (const auto& o : origins_) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

void CorsStage::AddFields(const HttpRequest& request, HttpResponse* resp) const {
  const std::string* origin = request.Header("origin");
  if (origin == nullptr || origin->empty() || !OriginAllowed(*origin)) return;
  resp->headers.emplace_back("Access-Control-Allow-Origin", *origin);
  resp->headers.emplace_back("Vary", "Origin");
  resp->headers.emplace_back("Access-Control-Expose-Headers",
                             "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, "
                             "RateLimit-Reset, X-Modelfn-Version, X-Modelfn-Cold-Start");
}

void CorsStage::OnEarlyAnswer(const HttpRequest& head, HttpResponse* early) const {
  AddFields(head, early);
}

Verdict CorsStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  const HttpRequest& req = ex->request;
  if (req.method != "OPTIONS") return Verdict::kNext;
  const std::string* origin = req.Header("origin");
  const std::string* method = req.Header("access-control-request-method");
  HttpResponse& r = ex->response;
  if (origin == nullptr || method == nullptr) {
    r.status = 204;
    r.headers.emplace_back("Allow", "GET, POST, OPTIONS");
    AddFields(req, &r);
    return Verdict::kAnswered;
  }
  if (!OriginAllowed(*origin) || (*method != "GET" && *method != "POST")) {
    r = ProblemAnswer("forbidden", "CORS: origin " + *origin + " may not " + *method + " here",
                      false);
    return Verdict::kAnswered;
  }
  r.status = 204;
  r.content_type = "text/plain";
  r.headers.emplace_back("Access-Control-Allow-Origin", *origin);
  r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  r.headers.emplace_back("Access-Control-Allow-Headers",
                         "Content-Type, Authorization, X-Api-Key, X-Request-Id, "
                         "Inference-Header-Content-Length");
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  r.headers.emplace_back("Vary", "Origin");
  return Verdict::kAnswered;
}

void CorsStage::OnAnswer(Exchange& ex) { AddFields(ex.request, &ex.response); }

}  // namespace modelfn::gateway
