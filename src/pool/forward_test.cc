// The API Gateway HTTP API 2.0 event and response shapes of lambda-mode instances.
#include "pool/forward.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace modelfn {
namespace {

TEST(HttpApiEventTest, RequestBecomesAPayload20Event) {
  ForwardRequest r;
  r.method = "POST";
  r.path = "/v1/infer";
  r.query = "a=1";
  r.body = "{\"inputs\":[[1]]}";
  r.content_type = "application/json";
  r.request_id = "rid";
  r.headers = {{"user-agent", "ua"}};
  auto ev = Json::Parse(BuildHttpApiEvent(r, "lambda-id", 1700000000000));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->Find("version")->AsString(), "2.0");
  EXPECT_EQ(ev->Find("rawPath")->AsString(), "/v1/infer");
  EXPECT_EQ(ev->Find("rawQueryString")->AsString(), "a=1");
  EXPECT_EQ(ev->Find("body")->AsString(), r.body);
  EXPECT_FALSE(ev->Find("isBase64Encoded")->AsBool());
  const Json* http = ev->Find("requestContext")->Find("http");
  EXPECT_EQ(http->Find("method")->AsString(), "POST");
  EXPECT_EQ(http->Find("userAgent")->AsString(), "ua");
  EXPECT_EQ(ev->Find("headers")->Find("content-type")->AsString(), "application/json");
  // Binary bodies travel base64-encoded.
  r.content_type = "application/octet-stream";
  r.body = std::string("\0\1\2", 3);
  ev = Json::Parse(BuildHttpApiEvent(r, "lambda-id", 1));
  EXPECT_TRUE(ev->Find("isBase64Encoded")->AsBool());
  EXPECT_EQ(ev->Find("body")->AsString(), "AAEC");
}

TEST(HttpApiEventTest, RepeatedFieldsAreJoinedNotDuplicated) {
  ForwardRequest r;
  r.method = "POST";
  r.path = "/v1/infer";
  r.content_type = "application/json";
  r.request_id = "rid";
  r.headers = {{"accept", "a"},
               {"user-agent", "ua"},
               {"accept", "*/*"},
               {"content-type", "text/plain"},
               {"x-request-id", "other"}};
  std::string event = BuildHttpApiEvent(r, "lambda-id", 1);
  auto ev = Json::Parse(event);
  ASSERT_TRUE(ev.ok()) << ev.status().message() << "\n" << event;
  const Json* h = ev->Find("headers");
  EXPECT_EQ(h->Find("accept")->AsString(), "a,*/*");
  EXPECT_EQ(h->Find("content-type")->AsString(), "application/json");
  EXPECT_EQ(h->Find("x-request-id")->AsString(), "rid");
}

TEST(HttpApiEventTest, ResponseShapes) {
  ForwardReply r = ParseHttpApiResponse(
      R"({"statusCode":404,"headers":{"Content-Type":"application/problem+json","X-A":"b"},)"
      R"("body":"{}","isBase64Encoded":false})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/problem+json");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "X-A");
  r = ParseHttpApiResponse(R"({"statusCode":200,"body":"AAEC","isBase64Encoded":true})");
  EXPECT_EQ(r.body, std::string("\0\1\2", 3));
  // Anything else is a 200 JSON body, as HTTP APIs treat it.
  r = ParseHttpApiResponse(R"({"outputs":{"y":[1]}})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"outputs":{"y":[1]}})");
}

}  // namespace
}  // namespace modelfn
