// The durable queue of asynchronous invocations (POST /v1/async/{function}, docs/events.md): every
// accepted invocation is in SQLite (WAL journal, synchronous=FULL) before its 202 is sent, so a
// platform killed with SIGKILL and started again loses none; one that was running when the
// process died runs again (at-least-once). Thread-safe: every method may be called from any
// thread (one connection, serialised by a mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

struct sqlite3;

namespace modelfn::events {

// What the function is sent, as the gateway received it.
struct AsyncRequest {
  std::string function;  // the key under functions:
  std::string method = "POST";
  std::string path;  // as the function sees it ("/v1/infer")
  std::string query;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercased names
  std::string body;
  std::string request_id;  // the submitting request's id
  // Retried after every retryable failure until max_age_s, not max_retries times: upload trigger
  // deliveries, so that an outage of the store they read delays them and loses none.
  bool retry_until_max_age = false;
};

enum class AsyncState { kQueued, kRunning, kSucceeded, kFailed };
// "queued", "running", "succeeded", "failed".
const char* AsyncStateName(AsyncState s);

// An answer of the function, or why the invocation failed.
struct AsyncResult {
  int status = 0;  // 0: none yet
  std::string content_type;
  std::string body;
  std::string code;  // the problem code of a failure ("" on success)
  std::string detail;
};

struct AsyncRecord {
  std::string id;
  AsyncRequest request;
  std::string idempotency_key;
  AsyncState state = AsyncState::kQueued;
  int attempts = 0;  // sends so far (a send cut short by a crash counts)
  int64_t created_ms = 0, updated_ms = 0, next_at_ms = 0;  // wall clock (Clock::WallNanos)
  AsyncResult result;  // the last answer or failure; empty while none
};

struct Submitted {
  std::string id;
  bool created = true;  // false: an earlier invocation with the same idempotency key
};

class AsyncStore {
 public:
  // Opens the database at `path` (created with its tables when missing; ":memory:" for a store
  // that lives as long as the object, for tests). Invocations a previous process left running go
  // back to queued, due now (their attempt stays counted). Errors: Unavailable naming the path
  // (cannot open, not a database, disk errors).
  static StatusOr<std::unique_ptr<AsyncStore>> Open(const std::string& path, const Clock* clock);
  ~AsyncStore();
  AsyncStore(const AsyncStore&) = delete;
  AsyncStore& operator=(const AsyncStore&) = delete;

  // Records a new invocation, queued and due now, under a new random id (32 lowercase hex
  // digits). With a non-empty `idempotency_key`: when an invocation of the same function with the
  // same key was created less than `window_ms` ago, its id is returned (created = false) and
  // nothing is recorded; an older one does not count (and the new one takes the key). Durable
  // when it returns.
  StatusOr<Submitted> Submit(const AsyncRequest& request, const std::string& idempotency_key,
                             int64_t window_ms);
  // Up to `max` queued invocations due now (of `function`, or of any when ""), the earliest due
  // first, each marked running with one more attempt. A row that cannot be read back (damaged)
  // is marked failed (code "unreadable_record") instead, so it does not hold up the others.
  StatusOr<std::vector<AsyncRecord>> Claim(const std::string& function, size_t max);
  // The invocation ended for good: succeeded or failed, with its answer. NotFound for an unknown
  // id; FailedPrecondition when it is not running.
  Status Finish(const std::string& id, bool succeeded, const AsyncResult& result);
  // The send failed and the invocation runs again at `next_at_ms` (queued again). Errors as
  // Finish.
  Status Retry(const std::string& id, int64_t next_at_ms, const AsyncResult& result);
  // A send the platform itself cut short (its shutdown): queued again, due now, the attempt not
  // counted. Errors as Finish.
  Status Release(const std::string& id);
  // NotFound for an unknown id.
  StatusOr<AsyncRecord> Get(const std::string& id);
  // When the earliest queued invocation of `function` is due; nullopt when it has none queued.
  StatusOr<std::optional<int64_t>> NextDueOf(const std::string& function);
  // When the earliest queued invocation is due (wall ms); nullopt when none is queued.
  StatusOr<std::optional<int64_t>> NextDue();
  struct Counts {
    uint64_t queued = 0, running = 0, succeeded = 0, failed = 0;
  };
  // Invocations by state, per function.
  StatusOr<std::map<std::string, Counts>> CountByFunction();
  // Deletes succeeded and failed invocations last updated before `before_ms`; how many.
  StatusOr<uint64_t> Prune(int64_t before_ms);

 private:
  AsyncStore(sqlite3* db, const Clock* clock) : db_(db), clock_(clock) {}
  int64_t NowMs() const { return clock_->WallNanos() / 1'000'000; }
  // A running invocation's send ended: its new state and answer (and when it is due again,
  // unless `next_at_ms` < 0). Errors as Finish.
  Status EndSend(const std::string& id, AsyncState state, int64_t next_at_ms,
                 const AsyncResult& result, const char* what);

  std::mutex mu_;
  sqlite3* db_;
  const Clock* clock_;
};

}  // namespace modelfn::events
