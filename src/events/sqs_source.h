// A function fed by an SQS queue, as Lambda's event source mapping feeds one: messages are
// received in batches (up to `batch_size`, waiting up to `batching_window_s` to fill one), handed
// to the function as one SQS event, and deleted once handled; the ones the function reports in
// `batchItemFailures` (or all of them, when the invocation fails) are left to come back after
// the visibility timeout, and the queue's own redrive policy moves a message received
// maxReceiveCount times to its dead-letter queue. A poison message never blocks the others.
//
// Thread-safety: Start and Stop from one thread; counters() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "events/async_dispatcher.h"
#include "events/sqs_client.h"

namespace modelfn::events {

struct SqsSourceConfig {
  std::string queue_url;
  int batch_size = 10;            // messages per invocation, 1-10000
  double batching_window_s = 0;   // how long to gather a batch once a message is in
  int visibility_timeout_s = 30;  // a received message stays hidden this long
};

class SqsSource {
 public:
  SqsSource(std::string function, SqsSourceConfig config, std::unique_ptr<SqsClient> client,
            AsyncSendFn send, const Clock* clock,
            std::function<void(const std::string&, const std::string&)> log);
  ~SqsSource();
  void Start();
  // Stops receiving; the batch in flight ends first.
  void Stop();

  struct Counters {
    uint64_t received = 0, batches = 0, deleted = 0, returned = 0, receive_errors = 0;
  };
  Counters counters() const;

  // The messages of `reply` to delete: all but those its batchItemFailures names, or none when
  // the invocation failed (a function error, a non-200 answer). Exposed for tests.
  static std::vector<size_t> Handled(const std::vector<SqsMessage>& batch,
                                     const ForwardReply& reply);

 private:
  void Loop();

  const std::string function_;
  const SqsSourceConfig config_;
  std::unique_ptr<SqsClient> client_;
  AsyncSendFn send_;
  const Clock* clock_;
  std::function<void(const std::string&, const std::string&)> log_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  Counters counters_;
};

}  // namespace modelfn::events
