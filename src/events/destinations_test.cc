#include "events/destinations.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "store/fake_http_client.h"

namespace modelfn::events {
namespace {

std::optional<std::string> NoEnv(const std::string&) { return std::nullopt; }

TEST(SqsArnTest, QueueUrlsFollowTheEndpointSettings) {
  EXPECT_EQ(SqsQueueUrlOfArn("arn:aws:sqs:eu-west-1:123456789012:dlq", NoEnv).value(),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq");
  auto env = [](const std::string& k) -> std::optional<std::string> {
    if (k == "AWS_ENDPOINT_URL") return "http://127.0.0.1:4566/";
    return std::nullopt;
  };
  EXPECT_EQ(SqsQueueUrlOfArn("arn:aws:sqs:us-east-1:000000000000:q.fifo", env).value(),
            "http://127.0.0.1:4566/000000000000/q.fifo");
  auto sqs_env = [](const std::string& k) -> std::optional<std::string> {
    if (k == "AWS_ENDPOINT_URL_SQS") return "http://sqs.local:9324";
    if (k == "AWS_ENDPOINT_URL") return "http://s3.local:9000";
    return std::nullopt;
  };
  EXPECT_EQ(SqsQueueUrlOfArn("arn:aws:sqs:us-east-1:1:q", sqs_env).value(),
            "http://sqs.local:9324/1/q");
  for (const char* bad :
       {"arn:aws:sqs:us-east-1:1", "arn:aws:sns:us-east-1:1:topic", "arn:aws:sqs:us-east-1:1:a/b",
        "arn:aws:sqs::1:q", "arn:aws:sqs:r:1:", "arn:aws:sqs:r:1:q:extra"}) {
    EXPECT_FALSE(SqsQueueUrlOfArn(bad, NoEnv).ok()) << bad;
  }
  EXPECT_TRUE(IsQueueDestination("arn:aws:sqs:us-east-1:1:q"));
  EXPECT_FALSE(IsQueueDestination("s3://bucket/failed"));
  EXPECT_FALSE(IsQueueDestination("./arn:aws:sqs"));
}

}  // namespace
}  // namespace modelfn::events
