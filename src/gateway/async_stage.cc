#include "gateway/async_stage.h"

#include "common/json.h"
#include "gateway/answers.h"

namespace modelfn::gateway {

bool ValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

Verdict AsyncStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  if (role_ == Role::kReads) {
    if (ex->async_id.empty()) return Verdict::kNext;
    auto described = queue_->Describe(ex->async_id);
    if (!described.ok()) {
      ex->response = ProblemAnswer(
          described.status().code() == StatusCode::kNotFound ? "not_found" : "async_unavailable",
          described.status().message(), false);
      return Verdict::kAnswered;
    }
    ex->response.status = 200;
    ex->response.content_type = "application/json";
    ex->response.body = std::move(described).value();
    return Verdict::kAnswered;
  }
  if (ex->lambda_invoke && ex->invocation_type == "DryRun") {
    ex->response.status = 204;  // the Invoke API's answer: the caller may invoke it
    return Verdict::kAnswered;
  }
  if (!ex->async_submit) return Verdict::kNext;
  HttpRequest& req = ex->request;
  std::string key;
  if (const std::string* k = req.Header("idempotency-key")) {
    if (!ValidIdempotencyKey(*k)) {
      ex->response = ProblemAnswer(
          "invalid_request", "Idempotency-Key must be 1 to 255 characters of visible ASCII", false);
      return Verdict::kAnswered;
    }
    key = *k;
  }
  ForwardRequest fr;
  fr.method = "POST";
  fr.path = ex->path;
  fr.query = req.query;
  fr.body = std::move(req.body);
  if (const std::string* ct = req.Header("content-type")) fr.content_type = *ct;
  fr.request_id = ex->request_id;
  for (const auto& [k, v] : req.headers) {
    if (k == "inference-header-content-length" || k == "user-agent" || k == "accept") {
      fr.headers.emplace_back(k, v);
    }
  }
  // The invocation runs later in the submitting request's trace: under the gateway's span of the
  // submission (or as the client sent it when the gateway records no spans).
  if (ex->traced) {
    fr.headers.emplace_back("traceparent", observe::FormatTraceparent(ex->trace.ctx));
  } else if (!ex->traceparent_in.empty()) {
    fr.headers.emplace_back("traceparent", ex->traceparent_in);
  }
  auto accepted = queue_->Submit(ex->function->name, std::move(fr), key);
  if (!accepted.ok()) {
    ex->response =
        ProblemAnswer(accepted.status().reason() == "idempotency_conflict" ? "idempotency_conflict"
                                                                           : "async_unavailable",
                      accepted.status().message(), false);
    return Verdict::kAnswered;
  }
  HttpResponse& r = ex->response;
  r.status = 202;
  r.content_type = "application/json";
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Key("id").String(accepted->id).Key("function").String(ex->function->name);
  w.Key("status").String("queued").Key("location").String("/v1/async/" + accepted->id).EndObject();
  r.body = std::move(body);
  if (!accepted->created) {
    // The invocation the key named first, as it stands now.
    if (auto earlier = queue_->Describe(accepted->id); earlier.ok()) {
      r.status = 200;
      r.body = std::move(earlier).value();
    }
  }
  r.headers.emplace_back("Location", "/v1/async/" + accepted->id);
  if (!accepted->created) r.headers.emplace_back("Idempotent-Replayed", "true");
  return Verdict::kAnswered;
}

}  // namespace modelfn::gateway
