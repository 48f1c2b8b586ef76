// SQS queues named by ARN (arn:aws:sqs:REGION:ACCOUNT:NAME), as Lambda's destinations name
// them: pure, so configuration checks use it without the client.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/status.h"

namespace modelfn::events {

// True when `destination` names an SQS queue (an SQS ARN) rather than a store.
bool IsQueueDestination(const std::string& destination);

// The URL of the queue an ARN names: at AWS_ENDPOINT_URL_SQS, else AWS_ENDPOINT_URL (an
// SQS-compatible server), else https://sqs.REGION.amazonaws.com/ACCOUNT/NAME. InvalidArgument
// when it is not such an ARN (six colon-separated parts, a queue name of 1-80 letters, digits,
// '-', '_' or '.').
StatusOr<std::string> SqsQueueUrlOfArn(
    const std::string& arn,
    const std::function<std::optional<std::string>(const std::string&)>& env);

}  // namespace modelfn::events
