// The gateway's request path: stages (stage.h) run in order over one Exchange per request.
//
//   observe → request id → CORS → route → authenticate → local routes → plan → rate limit →
//   quota → version → cache → forward
//
// A policy is added by adding a stage. A configuration reload swaps the whole stage list.
// Thread-safety: every method may be called from any thread
// at once (the HTTP server's event loops call Handle and CheckHead; backends call Answer).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/clock.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

// One configuration's stages, immutable once built.
using StageList = std::vector<std::unique_ptr<Stage>>;

class Pipeline final : public Continuation {
 public:
  // `clock` must outlive the pipeline.
  Pipeline(StageList stages, const Clock* clock);

  // The HTTP server's HeadHandler: false with *early when a stage answers from the head alone.
  bool CheckHead(HttpRequest* head, HttpResponse* early);
  // The HTTP server's ErrorHook: every stage's OnEarlyAnswer on an answer the server made itself
  // (a request that does not parse, a body over the limit), so it carries X-Request-Id and CORS
  // fields as every other answer does.
  void DecorateError(const HttpRequest& head, HttpResponse* error) const;
  // Runs the stages; `respond` is called exactly once, on this thread or (after a deferred
  // stage) on the thread that completes it.
  // `client_gone` (HttpResponder::gone_flag): lets a queued request be dropped once its client
  // has left; may be null.
  void Handle(HttpRequest request, std::function<void(HttpResponse)> respond,
              std::shared_ptr<const std::atomic<bool>> client_gone = nullptr);
  // Completes a deferred exchange: the stages that passed it on see the response, then it is sent.
  void Answer(ExchangePtr ex) override;

  // Serves new requests with `stages` from now on; exchanges already under way finish with the
  // stages they started with (which live until the last of them is answered).
  void Replace(StageList stages);

 private:
  std::shared_ptr<const StageList> Current() const;

  mutable std::mutex mu_;  // guards current_ (the pointer, not the stages)
  std::shared_ptr<const StageList> current_;
  const Clock* clock_;
};

}  // namespace modelfn::gateway
