// What pool/forward.* adds over the API Gateway codec (src/faces/aws/api_gateway_test.cc covers
// the event and response shapes themselves): every field of the pool's request reaches the event,
// the decoded answer fills the pool's reply, and an answer the codec refuses becomes a problem.
#include "pool/forward.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "faces/aws/api_gateway.h"

namespace modelfn {
namespace {

TEST(ForwardAdapterTest, EveryFieldOfTheRequestReachesTheEvent) {
  ForwardRequest r;
  r.method = "PUT";
  r.path = "/v2/models/m/infer";
  r.query = "a=1";
  r.body = std::string("\0\1\2", 3);
  r.content_type = "application/octet-stream";
  r.request_id = "rid";
  r.source_ip = "10.0.0.7";
  r.headers = {{"accept", "*/*"}, {"user-agent", "ua"}};
  std::string event = BuildHttpApiEvent(r, "lambda-id", 1700000000000);
  auto doc = Json::Parse(event);
  ASSERT_TRUE(doc.ok()) << event;
  EXPECT_EQ(doc->Find("requestContext")->Find("timeEpoch")->AsInt64(), 1700000000000);
  auto back = aws::DecodeApiEvent(*doc, aws::ApiEventFormat::kHttpV2);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->method, r.method);
  EXPECT_EQ(back->path, r.path);
  EXPECT_EQ(back->query, r.query);
  EXPECT_EQ(back->body, r.body);
  EXPECT_EQ(back->source_ip, r.source_ip);
  aws::HeaderList want = {{"accept", "*/*"},
                          {"user-agent", "ua"},
                          {"content-type", "application/octet-stream"},
                          {"x-request-id", "rid"}};
  EXPECT_EQ(back->headers, want);
  EXPECT_EQ(doc->Find("requestContext")->Find("requestId")->AsString(), "rid");
}

TEST(ForwardAdapterTest, TheDecodedAnswerFillsTheReply) {
  ForwardReply r = ParseHttpApiResponse(
      R"({"statusCode":404,"headers":{"Content-Type":"application/problem+json","X-A":"b"},)"
      R"("body":"{}"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/problem+json");
  std::vector<std::pair<std::string, std::string>> want = {{"X-A", "b"}};
  EXPECT_EQ(r.headers, want);
  EXPECT_EQ(r.body, "{}");
  // The platform's own fields stay for the pool to fill.
  EXPECT_EQ(r.instance, "");
  EXPECT_EQ(r.code, "");
}

TEST(ForwardAdapterTest, AnAnswerTheCodecRefusesIsAFunctionErrorProblem) {
  ForwardReply r = ParseHttpApiResponse(R"({"statusCode":101})");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.content_type, "application/problem+json");
  auto body = Json::Parse(r.body);
  ASSERT_TRUE(body.ok()) << r.body;
  EXPECT_EQ(body->Find("code")->AsString(), "function_error");
  EXPECT_NE(body->Find("detail")->AsString().find("statusCode"), std::string::npos);
}

}  // namespace
}  // namespace modelfn
