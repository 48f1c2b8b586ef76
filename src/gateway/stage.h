// A stage of the gateway's request path. The pipeline (pipeline.h) runs its stages in order over
// one Exchange: each passes it on, answers it, or (the forward stage) takes it and completes it
// later. When the response exists, every stage that passed the exchange on sees it, in reverse
// order (OnAnswer), to add its headers or remember it. Stages hold no per-request state: one
// instance serves every request, from every event-loop thread at once, so they are thread-safe.
#pragma once

#include <string_view>

#include "gateway/exchange.h"

namespace modelfn::gateway {

enum class Verdict {
  kNext,      // the next stage runs
  kAnswered,  // ex->response is the answer
  kDeferred,  // the stage moved the exchange out and hands it to Continuation::Answer later
};

// Completes an exchange a stage deferred. Thread-safe; call exactly once per deferred exchange.
class Continuation {
 public:
  virtual ~Continuation() = default;
  virtual void Answer(ExchangePtr ex) = 0;
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;

  // Runs on the request head, before the body is read (the HTTP server's HeadHandler). False with
  // *early filled answers at once, and the body is never buffered: how credentials are refused
  // before a client can make the gateway hold a large body. May store what later stages need in
  // head->context.
  virtual bool OnHead(HttpRequest* head, HttpResponse* early) { return true; }
  // Adds this stage's fields to an answer a later stage gave in the head phase.
  virtual void OnEarlyAnswer(const HttpRequest& head, HttpResponse* early) const {}

  // Runs once the whole request is read. kDeferred only after moving `ex` out; `next` then
  // receives it exactly once, from any thread.
  virtual Verdict OnRequest(ExchangePtr& ex, Continuation& next) = 0;
  // The response exists (ex.response); called only when this stage returned kNext.
  virtual void OnAnswer(Exchange& ex) {}
};

}  // namespace modelfn::gateway
