#include "gateway/forward_stage.h"

#include <strings.h>

#include <memory>

#include "common/json.h"
#include "gateway/answers.h"

namespace modelfn::gateway {

Verdict ForwardStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  HttpRequest& req = ex->request;
  ForwardRequest fr;
  fr.method = req.method == "HEAD" ? "GET" : req.method;
  fr.path = ex->path;
  fr.query = req.query;
  // The cache's key is already taken; nothing later reads the body.
  fr.body = std::move(req.body);
  if (const std::string* ct = req.Header("content-type")) fr.content_type = *ct;
  fr.request_id = ex->request_id;
  fr.arrived_ns = ex->arrived_ns;
  fr.client_gone = ex->client_gone;
  fr.raw_event = ex->lambda_invoke;
  for (const auto& [k, v] : req.headers) {
    if (k == "inference-header-content-length" || k == "user-agent" || k == "accept") {
      fr.headers.emplace_back(k, v);
    }
  }
  // The instance continues the trace: under the forward span when the gateway records spans,
  // else as the client sent it.
  if (ex->traced) {
    observe::TraceContext child = ex->trace.ctx;
    child.span_id = ex->forward_span;
    fr.headers.emplace_back("traceparent", observe::FormatTraceparent(child));
    if (!child.tracestate.empty()) fr.headers.emplace_back("tracestate", child.tracestate);
  } else if (!ex->traceparent_in.empty()) {
    fr.headers.emplace_back("traceparent", ex->traceparent_in);
    if (!ex->tracestate_in.empty()) fr.headers.emplace_back("tracestate", ex->tracestate_in);
  }
  ex->forward_ns = clock_ != nullptr ? clock_->MonotonicNanos() : 0;
  Backend* backend = ex->variant->backend;
  // The callback owns the exchange until it runs (exactly once, per Backend's contract); one the
  // backend drops unrun (a fake in a test, a pool torn down) frees it with the callback.
  auto held = std::make_shared<ExchangePtr>(std::move(ex));
  backend->Submit(std::move(fr), [held = std::move(held), &next](ForwardReply reply) {
    ExchangePtr owned = std::move(*held);
    if (owned == nullptr) return;  // a second call: the contract says it never comes
    TakeReply(*owned, std::move(reply));
    next.Answer(std::move(owned));
  });
  return Verdict::kDeferred;
}

void ForwardStage::TakeReply(Exchange& ex, ForwardReply reply) {
  HttpResponse& r = ex.response;
  if (ex.v2 && !reply.code.empty()) {
    auto problem = Json::Parse(reply.body);
    const Json* detail = problem.ok() ? problem->Find("detail") : nullptr;
    HttpResponse e = ProblemAnswer(
        reply.code, detail && detail->is_string() ? detail->AsString() : reply.code, true);
    r.body = std::move(e.body);
    r.content_type = e.content_type;
  } else {
    r.body = std::move(reply.body);
    r.content_type = reply.content_type.empty() ? "application/json" : reply.content_type;
  }
  r.status = reply.status;
  for (const auto& [k, v] : reply.headers) {
    if (strcasecmp(k.c_str(), "x-request-id") != 0) r.headers.emplace_back(k, v);
  }
  if (!reply.version.empty()) r.headers.emplace_back("X-Modelfn-Version", reply.version);
  if (!reply.instance.empty()) {
    r.headers.emplace_back("X-Modelfn-Instance", reply.instance);
    r.headers.emplace_back("X-Modelfn-Cold-Start", reply.cold_start ? "true" : "false");
  }
  if (ex.lambda_invoke) r.headers.emplace_back("X-Amz-Executed-Version", "$LATEST");
  if (reply.held_batch > 1) {
    r.headers.emplace_back("X-Modelfn-Held-Batch", std::to_string(reply.held_batch));
  }
  reply.body.clear();
  ex.reply = std::move(reply);
  ex.forwarded = true;
}

}  // namespace modelfn::gateway
