// Asynchronous invocation in `modelfn up`: the durable queue (events/async_store.h) under the
// state folder, the dispatcher that runs it on the functions' pools (events/async_dispatcher.h),
// and the gateway's view of both (gateway/async_stage.h).
#pragma once

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "events/async_dispatcher.h"
#include "events/async_store.h"
#include "events/destinations.h"
#include "events/object_trigger.h"
#include "events/sqs_source.h"
#include "gateway/async_stage.h"
#include "gateway/backend.h"
#include "observe/tracer.h"
#include "platform/config.h"

namespace modelfn {

class PlatformAsync final : public gateway::AsyncQueue {
 public:
  // Opens <state_dir>/async.db. Invocations a previous platform left are run again.
  static StatusOr<std::unique_ptr<PlatformAsync>> Open(
      const std::string& state_dir, const Clock* clock,
      std::function<void(const std::string&, const std::string&)> log);
  // A function and its versions' backends with their traffic weights (fixed for the platform's
  // life; a reload that changes them needs a restart of the dispatcher: not done, see
  // platform_reload.cc).
  void AddFunction(const FunctionConfig& fn,
                   std::vector<std::pair<gateway::Backend*, int>> variants);
  // An upload trigger (config.h's TriggerSpec) over `bucket`, delivering through the queue.
  void AddTrigger(const TriggerSpec& spec, std::unique_ptr<ObjectStore> bucket);
  // Starts and stops the dispatcher, the queue sources (sqs: of the functions added) and the
  // triggers.
  void Start();
  void Stop();
  void set_retention_s(double s) { dispatcher_->set_retention_ms(static_cast<int64_t>(s * 1000)); }
  // Trigger deliveries start a trace each (sampled by its ratio): a span naming the object, under
  // which the instance's Runs of it hang. Call before AddTrigger; may be null.
  void set_tracer(observe::Tracer* tracer) { tracer_ = tracer; }

  // gateway::AsyncQueue
  StatusOr<Accepted> Submit(const std::string& function, ForwardRequest request,
                            const std::string& idempotency_key) override;
  StatusOr<std::string> Describe(const std::string& id) override;

  // /v1/status's "async" of a function: {"queued", "running", "succeeded", "failed", "sent",
  // "retried", "too_old", "destination_errors"}.
  std::string StatusOf(const std::string& function) const;
  // Prometheus lines for every function.
  std::string MetricsText() const;

 private:
  PlatformAsync() = default;
  struct Fn {
    int64_t window_ms = 0;
    std::vector<std::pair<gateway::Backend*, int>> variants;
    int total_weight = 0;
    std::unique_ptr<events::SqsSource> sqs;
  };
  // Sends a request to one of the function's versions, chosen by the traffic weights.
  void SendTo(const Fn& fn, ForwardRequest req, ReplyFn done);
  const Clock* clock_ = nullptr;
  std::function<void(const std::string&, const std::string&)> log_;
  std::unique_ptr<events::AsyncStore> store_;
  std::unique_ptr<events::StoreDestinations> destinations_;
  std::unique_ptr<events::AsyncDispatcher> dispatcher_;
  std::map<std::string, Fn> fns_;
  std::vector<std::unique_ptr<events::ObjectTrigger>> triggers_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
  observe::Tracer* tracer_ = nullptr;
};

}  // namespace modelfn
