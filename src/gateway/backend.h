// What the gateway forwards a request to: one function version's instances. The gateway knows
// only this interface; the composition root adapts the instance pool to it, and tests use an
// in-memory fake. Requests and replies are modelfn::ForwardRequest/ForwardReply
// (pool/forward_types.h), the pool's own types.
#pragma once

#include <string>

#include "pool/forward_types.h"

namespace modelfn::gateway {

class Backend {
 public:
  virtual ~Backend() = default;
  // The version this backend serves now (it may change when a function follows the store's
  // pointer). Thread-safe.
  virtual std::string version() const = 0;
  // Takes the request; `done` is called exactly once, from any thread (possibly before Submit
  // returns), with the function's answer or the platform's typed refusal (429, 503, 502, 504).
  // Never blocks. Thread-safe.
  virtual void Submit(ForwardRequest request, ReplyFn done) = 0;
};

}  // namespace modelfn::gateway
