// Runs the durable queue's invocations (async_store.h) on the functions: claims what is due,
// sends it as the gateway would send a request, and records how it ended. A send that fails in a
// way a later try may not (the platform was busy or shutting down, the instance crashed or timed
// out, the function answered 5xx) is retried with exponential backoff and jitter, up to the
// function's max_retries and max_age_s; a 4xx answer is final. An ended invocation's record
// goes to the function's on_success or on_failure destination, when it has one.
//
// Thread-safety: every public method may be called from any thread. Sends are made without the
// dispatcher's lock held; their answers may come on any thread (an event loop's): they are only
// queued there, and recorded (the database, the destinations) by ProcessAnswers on the
// dispatcher's own thread, so a slow disk or destination never holds up a loop.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "common/clock.h"
#include "events/async_store.h"
#include "pool/forward_types.h"

namespace modelfn::events {

struct AsyncPolicy {
  int max_retries = 2;                   // sends after the first (Lambda's default)
  int64_t max_age_ms = 6 * 3600 * 1000;  // an invocation not done by then fails (event_too_old)
  int64_t retry_base_ms = 1000;          // the first retry after 0.5-1x this, doubling each time
  int64_t retry_cap_ms = 300'000;        // ...up to this
  std::string on_success, on_failure;    // destinations (a folder or store URI prefix); "" none
  int max_in_flight = 4;                 // sends of this function's invocations at once
};

// The delay before retry number `retry` (1 for the first), before jitter: base x 2^(retry-1),
// at most cap.
int64_t RetryDelayMs(const AsyncPolicy& p, int retry);

// Whether an answer with this status is worth another try: 408, 429 and 5xx (the platform's own
// refusals are among them: throttled, overloaded, shutting_down, instance_crashed, timeout).
bool Retryable(int status);

// Where ended invocations' records go: `destination` (as configured) plus `name`. Thread-safe.
class DestinationWriter {
 public:
  virtual ~DestinationWriter() = default;
  virtual Status Write(const std::string& destination, const std::string& name,
                       const std::string& json) = 0;
};

// The record written to a destination: {"id", "function", "status", "attempts", "created_at",
// "ended_at", "request_id", "request": {"path", "content_type", "body"...}, "response" |
// "error"}.
std::string DestinationRecord(const AsyncRecord& r, bool succeeded);

// The JSON body of GET /v1/async/{id}.
std::string StatusJson(const AsyncRecord& r);

using AsyncSendFn = std::function<void(ForwardRequest, ReplyFn)>;

class AsyncDispatcher {
 public:
  // `log` may be empty. Nothing is owned.
  AsyncDispatcher(AsyncStore* store, const Clock* clock, DestinationWriter* destinations,
                  std::function<void(const std::string& level, const std::string& message)> log);
  ~AsyncDispatcher();

  // Before Start: a function whose invocations this dispatcher runs, and how it sends them.
  void AddFunction(const std::string& name, AsyncPolicy policy, AsyncSendFn send);

  // Records the answers that came in (retry, end, destination records), then claims the
  // invocations due now (keeping each function within max_in_flight) and sends them.
  void Pump();
  // Records the answers that came in. Pump does it first; tests call it after an answer.
  void ProcessAnswers();
  // A thread that pumps when an invocation is due and whenever Notify() is called.
  void Start();
  void Notify();
  // Stops the thread. Answers that come after: a success is recorded; a failure (the shutdown
  // refusing or cutting the send short) puts the invocation back in the queue, the attempt not
  // counted, for the next start.
  void Stop();
  // Ended invocations (succeeded or failed) are deleted from the queue's database this long after
  // they ended (their destination records stay). Before Start; default 7 days.
  void set_retention_ms(int64_t ms) { retention_ms_ = ms; }
  // Deletes the ended invocations past the retention; how many. The thread does it once a minute.
  uint64_t PruneEnded();
  // Fails the queued invocations of functions that were not added (a function removed from the
  // configuration), with code "function_not_configured"; how many. Start does it.
  size_t FailUnknownFunctions();

  struct Counters {
    uint64_t sent = 0, succeeded = 0, failed = 0, retried = 0, too_old = 0;
    uint64_t destination_errors = 0;
  };
  // Per function.
  std::map<std::string, Counters> counters() const;

 private:
  struct Fn {
    AsyncPolicy policy;
    AsyncSendFn send;
    int in_flight = 0;
    Counters counters;
  };
  struct Answer {
    std::string function;
    AsyncRecord record;
    ForwardReply reply;
  };
  void OnAnswer(const std::string& function, AsyncRecord record, ForwardReply reply);
  void Record(Answer a);
  // Records how `record` ended (its destination record, then the queue). Called without mu_.
  void End(const std::string& function, AsyncRecord record, bool succeeded,
           const AsyncResult& result, const std::string& dest);
  void Log(const std::string& level, const std::string& message);

  AsyncStore* const store_;
  const Clock* const clock_;
  DestinationWriter* const destinations_;
  const std::function<void(const std::string&, const std::string&)> log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Fn> fns_;
  std::mt19937_64 rng_;
  bool stop_ = false, notified_ = false, stopped_ = false;
  std::deque<Answer> answers_;
  int64_t backoff_until_ms_ = 0;  // after a database error, no claim before
  int64_t retention_ms_ = int64_t{7} * 86400 * 1000;
  int64_t next_prune_ms_ = 0;
  std::thread thread_;
};

}  // namespace modelfn::events
