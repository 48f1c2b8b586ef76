// Requests held for a function in lambda mode, merged into one invocation (the scale-from-zero
// holder, docs/platform.md "Holder"): the pool sends an instance the /v1/infer requests that
// waited for it as one /v1/batch, whose items are their bodies in order, and gives each request
// its own answer from the batch's results. Pure functions over the pool's request and reply
// types: no I/O, no state.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "pool/forward_types.h"

namespace modelfn {

// A merged invocation carries at most this many bytes of request bodies: far below the Runtime
// API's event limit, and few enough values (each takes at least two bytes) that the items stay
// inside a function's per-request element budget (MODELFN_MAX_ELEMENTS, 16 Mi by default),
// which /v1/batch shares among its items.
inline constexpr size_t kHeldBatchMaxBytes = 1 << 20;

// Whether `r` may travel as an item of a merged /v1/batch and come back with the answer it would
// get alone: POST /v1/infer, no query, a JSON content type (or none), and a body that is one JSON
// object nested at most two levels less deep than a function accepts (the batch wraps it in two).
// Validates the body (simdjson, no DOM built): call it only for requests that may be held.
bool HeldMergeable(const ForwardRequest& r);

// The /v1/batch request carrying `members`' bodies as its items, in order. The first member lends
// its headers (minus Content-Length), request id, source and arrival. Requires every member to be
// HeldMergeable.
ForwardRequest MergeHeld(const std::vector<std::shared_ptr<const ForwardRequest>>& members);

// One member's share of a merged answer.
struct HeldAnswer {
  ForwardReply reply;
  // The item failed only because it shared the batch (its elements counted against the batch's
  // one budget): it is to be sent again alone.
  bool resend = false;
};

// The answer of each of `n` members from the merged invocation's answer `merged`: an item's
// outputs become the body /v1/infer gives ({"model", "version", then the item's members}, status
// 200); an item's error becomes its problem+json with the problem's status. The function's own
// headers are kept except those describing the batch (X-Batch-*), X-Request-Id (each request has
// its own) and the framing ones; each answer's held_batch is n (the gateway's forward stage
// writes it as X-Modelfn-Held-Batch, outside what a response cache keeps).
// Errors (the members are then to be sent again alone): FailedPrecondition when `merged` is not
// a 200 /v1/batch answer with exactly `n` results.
StatusOr<std::vector<HeldAnswer>> SplitHeld(const ForwardReply& merged, size_t n);

}  // namespace modelfn
