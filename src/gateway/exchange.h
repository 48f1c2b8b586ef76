// One request's passage through the gateway's stages (stage.h): the request, what earlier stages
// decided, and the response once one exists. Owned by exactly one party at a time: the pipeline
// while stages run, the forward stage's callback while an instance works on it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/backend.h"
#include "http/http_server.h"
#include "observe/tracer.h"
#include "platform/config.h"

namespace modelfn::gateway {

using Headers = std::vector<std::pair<std::string, std::string>>;

// One version of a function and the backend that serves it.
struct VariantRoute {
  Backend* backend = nullptr;  // not owned; outlives the pipeline
  int weight = 1;
};

// What the gateway needs to know about a function to route to it.
struct FunctionRoute {
  std::string name;   // the key under functions:
  std::string model;  // the model's name in the store: /v2 paths are rewritten to it
  bool sticky_traffic = false;
  bool response_cache = false;
  std::vector<VariantRoute> variants;  // never empty
  int total_weight = 0;
  bool lambda_mode = false;  // instances take Lambda events: the Invoke API applies
};

// Who sent the request, as the authenticate stage established it.
struct Principal {
  std::string id;    // "key:<id>", "jwt:<sub>", or "" when auth is off
  std::string plan;  // the API key's usage plan, "" for none
};

struct LocalRoute;
class Stage;

struct Exchange {
  HttpRequest request;
  int64_t arrived_ns = 0;  // monotonic
  std::string request_id;
  bool v2 = false;  // under /v2: errors take the Open Inference Protocol's shape

  // route: either a route the gateway answers itself...
  const LocalRoute* local = nullptr;
  // ...or a function.
  FunctionRoute* function = nullptr;
  std::string path;           // as the function sees it
  std::string version;        // pinned by the path ("" = the canary weights decide)
  std::string route;          // metrics label
  bool v2_meta = false;       // a /v2 metadata GET (not /infer): never cached
  bool async_submit = false;  // POST /v1/async/{function}: queued, not forwarded (async_stage.h)
  std::string async_id;       // GET /v1/async/{id}: the invocation asked about (no function)
  // Lambda's Invoke API (POST /2015-03-31/functions/{name}/invocations): the body is the event
  // (ForwardRequest::raw_event); `invocation_type` RequestResponse, Event or DryRun.
  bool lambda_invoke = false;
  std::string invocation_type;

  // The trace this request belongs to (observe stage): `trace.ctx.span_id` is the gateway's span,
  // `forward_span` the span of the forward, whose id the instance gets as its parent
  // (`traceparent`); `traceparent` as received when the gateway records no spans itself.
  observe::Tracer::Begun trace;
  bool traced = false;
  std::array<uint8_t, 8> forward_span{};
  std::string traceparent_in, tracestate_in;
  int64_t forward_ns = 0;  // monotonic, when the forward stage handed it to the backend

  Principal principal;
  const PlanConfig* plan = nullptr;
  Headers plan_headers;  // RateLimit-* fields for the answer
  VariantRoute* variant = nullptr;
  std::string cache_key;  // "" when the answer is not cacheable

  HttpResponse response;
  // Set by the forward stage when the backend answered (metadata only: the body went into
  // `response`).
  bool forwarded = false;
  ForwardReply reply;

  // Sends the response; called once, by the pipeline.
  std::function<void(HttpResponse)> respond;
  // Set once the client has closed its connection (HttpResponder::gone_flag); may be null.
  std::shared_ptr<const std::atomic<bool>> client_gone;
  // The pipeline's bookkeeping: the stages this exchange runs through (kept alive by it across a
  // reload) and how many of them said kNext.
  std::shared_ptr<const std::vector<std::unique_ptr<Stage>>> stages;
  size_t stages_passed = 0;
};

using ExchangePtr = std::unique_ptr<Exchange>;

}  // namespace modelfn::gateway
