// Destinations of ended asynchronous invocations: a folder or a store URI prefix (file://, s3://,
// gs://, az://), each opened once with credentials from the environment (store/open_store.h), or
// an SQS queue named by its ARN (arn:aws:sqs:REGION:ACCOUNT:NAME), a dead-letter queue as Lambda
// offers: the record is the message body.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "events/async_dispatcher.h"
#include "events/sqs_client.h"
#include "store/object_store.h"

namespace modelfn::events {

// Most of a record an SQS message holds (SQS's limit is 256 KiB): a larger record is sent with
// its request and response bodies dropped ("truncated": true).
inline constexpr size_t kMaxQueueRecordBytes = 256 * 1024;

class StoreDestinations final : public DestinationWriter {
 public:
  StoreDestinations(const Clock* clock, EnvFn env,
                    std::function<std::unique_ptr<HttpClient>()> make_http)
      : clock_(clock), env_(std::move(env)), make_http_(std::move(make_http)) {}
  // Writes `json` as `name` under `destination`, or sends it to the queue. Errors: the URI's
  // (InvalidArgument), the store's or the queue's.
  Status Write(const std::string& destination, const std::string& name,
               const std::string& json) override;

 private:
  Status Send(const std::string& arn, const std::string& json);
  const Clock* clock_;
  EnvFn env_;
  std::function<std::unique_ptr<HttpClient>()> make_http_;
  std::mutex mu_;
  std::mutex send_mu_;  // one SQS request at a time (the clients are not thread-safe)
  std::map<std::string, std::unique_ptr<ObjectStore>> stores_;
  std::map<std::string, std::unique_ptr<SqsClient>> queues_;
};

// A destination that records writes in memory, for tests.
class MemoryDestinations final : public DestinationWriter {
 public:
  Status Write(const std::string& destination, const std::string& name,
               const std::string& json) override {
    std::lock_guard<std::mutex> lock(mu_);
    written[destination + "/" + name] = json;
    return Status::Ok();
  }
  std::map<std::string, std::string> Written() {
    std::lock_guard<std::mutex> lock(mu_);
    return written;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> written;
};

}  // namespace modelfn::events
