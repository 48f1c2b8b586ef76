// The gateway's request path: stages (stage.h) run in order over one Exchange per request.
//
//   observe → request id → CORS → route → authenticate → local routes → plan → rate limit →
//   quota → version → cache → forward
//
// A policy is added by adding a stage. Thread-safety: every method may be called from any thread
// at once (the HTTP server's event loops call Handle and CheckHead; backends call Answer).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "common/clock.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

class Pipeline final : public Continuation {
 public:
  // `clock` must outlive the pipeline.
  Pipeline(std::vector<std::unique_ptr<Stage>> stages, const Clock* clock);

  // The HTTP server's HeadHandler: false with *early when a stage answers from the head alone.
  bool CheckHead(HttpRequest* head, HttpResponse* early);
  // Runs the stages; `respond` is called exactly once, on this thread or (after a deferred
  // stage) on the thread that completes it.
  void Handle(HttpRequest request, std::function<void(HttpResponse)> respond);
  // Completes a deferred exchange: the stages that passed it on see the response, then it is sent.
  void Answer(ExchangePtr ex) override;

  const std::vector<std::unique_ptr<Stage>>& stages() const { return stages_; }

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
  const Clock* clock_;
};

}  // namespace modelfn::gateway
