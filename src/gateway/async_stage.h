// Asynchronous invocation (docs/events.md): POST /v1/async/{function}[/infer|/batch] is accepted
// into a durable queue and answered 202 with the invocation's id at once; GET /v1/async/{id}
// tells its state and, once done, the function's answer. Runs after authentication, plans, rate
// limits and quotas, so an asynchronous request is counted as a synchronous one is; the queue
// itself (events/async_store.h) is behind the AsyncQueue seam.
#pragma once

#include <string>

#include "common/status.h"
#include "gateway/stage.h"

namespace modelfn::gateway {

// The durable queue, as the gateway sees it. Thread-safe.
class AsyncQueue {
 public:
  virtual ~AsyncQueue() = default;
  struct Accepted {
    std::string id;
    bool created = true;  // false: an earlier invocation with the same Idempotency-Key
  };
  // Records the invocation of `function` durably (or finds the earlier one with the same
  // non-empty `idempotency_key`). Errors: Unavailable when the queue cannot record it.
  virtual StatusOr<Accepted> Submit(const std::string& function, ForwardRequest request,
                                    const std::string& idempotency_key) = 0;
  // The JSON of GET /v1/async/{id}. NotFound for an unknown id.
  virtual StatusOr<std::string> Describe(const std::string& id) = 0;
};

// An Idempotency-Key is 1 to 255 characters of visible ASCII (0x21-0x7E).
bool ValidIdempotencyKey(std::string_view key);

class AsyncStage final : public Stage {
 public:
  // The reads stage answers GET /v1/async/{id} (placed right after authentication: polling is
  // not counted against plans and quotas); the other one submissions (after them).
  enum class Role { kReads, kSubmissions };
  AsyncStage(AsyncQueue* queue, Role role) : queue_(queue), role_(role) {}
  std::string_view name() const override { return "async"; }
  // Submissions: 202 {"id", "status": "queued"} with Location (200 with Idempotent-Replayed:
  // true for a repeated key), 400 for a bad Idempotency-Key, 503 async_unavailable when the
  // queue cannot record it. Status reads: 200 with the record, 404 for an unknown id. Others
  // pass.
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override;

 private:
  AsyncQueue* queue_;  // not owned
  Role role_;
};

}  // namespace modelfn::gateway
