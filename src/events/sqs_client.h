// A small client of Amazon SQS's JSON protocol (AWS JSON 1.0, SigV4-signed): receive a batch of
// messages, delete the ones handled, send one. Requests go to the origin of the queue's URL
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or an SQS-compatible server's).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "events/sqs_arn.h"
#include "http/http_client.h"
#include "store/aws_auth.h"

namespace modelfn::events {

struct SqsMessage {
  std::string message_id;
  std::string receipt_handle;
  std::string body;
  std::string md5_of_body;
  std::map<std::string, std::string> attributes;  // ApproximateReceiveCount, SentTimestamp...
};

class SqsClient {
 public:
  // `queue_url` names the queue; credentials come from the AWS chain in `env` (aws_auth.h), the
  // region from the URL's host (sqs.REGION.amazonaws.com) or the environment.
  SqsClient(std::string queue_url, EnvFn env, const Clock* clock, std::unique_ptr<HttpClient> http);

  // Up to `max` (1-10) messages, waiting up to `wait_s` (0-20) for one, hidden from other
  // receivers for `visibility_s`. Errors: Unavailable (cannot reach the server, 5xx),
  // FailedPrecondition (credentials), InvalidArgument with the server's error type (4xx).
  StatusOr<std::vector<SqsMessage>> Receive(int max, int wait_s, int visibility_s);
  // Deletes the messages (their receipt handles), up to 10 per request; the ids of those the
  // server could not delete.
  StatusOr<std::vector<std::string>> Delete(const std::vector<SqsMessage>& messages);
  // Sends one message; its MessageId. Errors as Receive's.
  StatusOr<std::string> Send(const std::string& body);
  // The queue's ARN (arn:aws:sqs:REGION:ACCOUNT:NAME), from its URL.
  std::string QueueArn() const;
  const std::string& region() const { return region_; }

 private:
  StatusOr<std::string> Call(const std::string& target, const std::string& body, int timeout_s);

  const std::string queue_url_;
  std::string origin_, host_, region_;
  EnvFn env_;
  const Clock* clock_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace modelfn::events
