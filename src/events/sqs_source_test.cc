#include "events/sqs_source.h"

#include <gtest/gtest.h>

namespace modelfn::events {
namespace {

std::vector<SqsMessage> Batch() {
  std::vector<SqsMessage> b(3);
  for (int i = 0; i < 3; ++i) b[i].message_id = "m" + std::to_string(i);
  return b;
}

ForwardReply Reply(int status, std::string body, bool function_error = false) {
  ForwardReply r;
  r.status = status;
  r.body = std::move(body);
  if (function_error) r.headers.emplace_back("X-Amz-Function-Error", "Unhandled");
  return r;
}

TEST(SqsSourceTest, EverythingButTheReportedFailuresIsHandled) {
  EXPECT_EQ(SqsSource::Handled(Batch(), Reply(200, R"({"batchItemFailures":[]})")),
            (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(SqsSource::Handled(Batch(), Reply(200, "{}")), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(
      SqsSource::Handled(Batch(), Reply(200, R"({"batchItemFailures":[{"itemIdentifier":"m1"}]})")),
      (std::vector<size_t>{0, 2}));
}

TEST(SqsSourceTest, AFailedInvocationReturnsTheWholeBatch) {
  EXPECT_TRUE(SqsSource::Handled(Batch(), Reply(200, R"({"errorType":"x"})", true)).empty());
  EXPECT_TRUE(SqsSource::Handled(Batch(), Reply(503, "{}")).empty());
  EXPECT_TRUE(SqsSource::Handled(Batch(), Reply(504, "")).empty());
  // An entry Lambda could not read fails the whole batch too.
  EXPECT_TRUE(
      SqsSource::Handled(Batch(), Reply(200, R"({"batchItemFailures":[{"itemIdentifier":""}]})"))
          .empty());
  EXPECT_TRUE(SqsSource::Handled(Batch(), Reply(200, R"({"batchItemFailures":[7]})")).empty());
}

}  // namespace
}  // namespace modelfn::events
