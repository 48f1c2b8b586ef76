#include "faces/aws/api_gateway.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace modelfn::aws {
namespace {

ApiRequest DecodeV2(const std::string& event) {
  auto doc = Json::Parse(event);
  EXPECT_TRUE(doc.ok()) << event;
  if (!doc.ok()) return {};
  EXPECT_EQ(DetectApiEventFormat(*doc), ApiEventFormat::kHttpV2) << event;
  auto r = DecodeApiEvent(*doc, ApiEventFormat::kHttpV2);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : ApiRequest{};
}

ApiResponse DecodeResponse(const std::string& payload) {
  auto r = DecodeHttpApiResponse(payload);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : ApiResponse{};
}

TEST(HttpApiEventTest, RequestBecomesAPayload20Event) {
  ApiRequest r;
  r.method = "POST";
  r.path = "/v1/infer";
  r.query = "a=1";
  r.body = "{\"inputs\":[[1]]}";
  r.content_type = "application/json";
  r.request_id = "rid";
  r.headers = {{"user-agent", "ua"}};
  auto ev = Json::Parse(EncodeHttpApiEvent(r, "lambda-id", 1700000000000));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->Find("version")->AsString(), "2.0");
  EXPECT_EQ(ev->Find("rawPath")->AsString(), "/v1/infer");
  EXPECT_EQ(ev->Find("rawQueryString")->AsString(), "a=1");
  EXPECT_EQ(ev->Find("body")->AsString(), r.body);
  EXPECT_FALSE(ev->Find("isBase64Encoded")->AsBool());
  const Json* rc = ev->Find("requestContext");
  EXPECT_EQ(rc->Find("requestId")->AsString(), "rid");
  EXPECT_EQ(rc->Find("timeEpoch")->AsInt64(), 1700000000000);
  const Json* http = rc->Find("http");
  EXPECT_EQ(http->Find("method")->AsString(), "POST");
  EXPECT_EQ(http->Find("userAgent")->AsString(), "ua");
  EXPECT_EQ(http->Find("sourceIp")->AsString(), "127.0.0.1");
  EXPECT_EQ(ev->Find("headers")->Find("content-type")->AsString(), "application/json");
  // Binary bodies travel base64-encoded.
  r.content_type = "application/octet-stream";
  r.body = std::string("\0\1\2", 3);
  ev = Json::Parse(EncodeHttpApiEvent(r, "lambda-id", 1));
  EXPECT_TRUE(ev->Find("isBase64Encoded")->AsBool());
  EXPECT_EQ(ev->Find("body")->AsString(), "AAEC");
}

TEST(HttpApiEventTest, RequestIdFallsBackToTheCallersId) {
  ApiRequest r;
  r.path = "/";
  auto ev = Json::Parse(EncodeHttpApiEvent(r, "lambda-id", 1));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->Find("requestContext")->Find("requestId")->AsString(), "lambda-id");
  EXPECT_EQ(ev->Find("headers")->Find("x-request-id"), nullptr);
}

TEST(HttpApiEventTest, RepeatedFieldsAreJoinedNotDuplicated) {
  ApiRequest r;
  r.method = "POST";
  r.path = "/v1/infer";
  r.content_type = "application/json";
  r.request_id = "rid";
  r.headers = {{"accept", "a"},
               {"user-agent", "ua"},
               {"accept", "*/*"},
               {"content-type", "text/plain"},
               {"x-request-id", "other"}};
  std::string event = EncodeHttpApiEvent(r, "lambda-id", 1);
  auto ev = Json::Parse(event);
  ASSERT_TRUE(ev.ok()) << ev.status().message() << "\n" << event;
  const Json* h = ev->Find("headers");
  EXPECT_EQ(h->Find("accept")->AsString(), "a,*/*");
  EXPECT_EQ(h->Find("content-type")->AsString(), "application/json");
  EXPECT_EQ(h->Find("x-request-id")->AsString(), "rid");
}

TEST(HttpApiEventTest, EventRoundTrips) {
  ApiRequest r;
  r.method = "PUT";
  r.path = "/v2/models/m/infer";
  r.query = "x=1&y=%20";
  r.content_type = "application/octet-stream";
  r.request_id = "r-9";
  r.source_ip = "10.0.0.7";
  r.headers = {{"accept", "a"}, {"accept", "b"}, {"x-other", "\"quoted\" \\ value"}};
  r.body = std::string("\0\xff\x80 binary", 10);
  ApiRequest back = DecodeV2(EncodeHttpApiEvent(r, "unused", 5));
  EXPECT_EQ(back.method, r.method);
  EXPECT_EQ(back.path, r.path);
  EXPECT_EQ(back.query, r.query);
  EXPECT_EQ(back.body, r.body);
  EXPECT_EQ(back.source_ip, r.source_ip);
  HeaderList want = {{"accept", "a,b"},
                     {"x-other", "\"quoted\" \\ value"},
                     {"content-type", "application/octet-stream"},
                     {"x-request-id", "r-9"}};
  EXPECT_EQ(back.headers, want);
  // A JSON body travels as text and comes back byte for byte.
  r.content_type = "application/json";
  r.body = R"({"inputs":[[1,2]],"s":"caf\u00e9"})";
  EXPECT_EQ(DecodeV2(EncodeHttpApiEvent(r, "unused", 5)).body, r.body);
}

TEST(HttpApiResponseTest, ResponseShapes) {
  ApiResponse r = DecodeResponse(
      R"({"statusCode":404,"headers":{"Content-Type":"application/problem+json","X-A":"b"},)"
      R"("body":"{}","isBase64Encoded":false})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/problem+json");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "X-A");
  r = DecodeResponse(R"({"statusCode":200,"body":"AAEC","isBase64Encoded":true})");
  EXPECT_EQ(r.body, std::string("\0\1\2", 3));
  EXPECT_EQ(r.content_type, "application/json");
  // Anything else is a 200 JSON body, as HTTP APIs treat it.
  r = DecodeResponse(R"({"outputs":{"y":[1]}})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"outputs":{"y":[1]}})");
  r = DecodeResponse(R"({"statusCode":"200"})");
  EXPECT_EQ(r.body, R"({"statusCode":"200"})");
  r = DecodeResponse("not json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "not json");
}

TEST(HttpApiResponseTest, FramingHeadersAreDropped) {
  ApiResponse r = DecodeResponse(
      R"({"statusCode":201,"headers":{"content-length":"9","Connection":"close","Date":"x",)"
      R"("Server":"s","X-N":5},"body":"ok"})");
  EXPECT_EQ(r.status, 201);
  HeaderList want = {{"X-N", "5"}};
  EXPECT_EQ(r.headers, want);
}

TEST(HttpApiResponseTest, StatusThatCannotBeAFinalAnswerIsTheFunctionsError) {
  for (const char* bad :
       {"100", "199", "600", "-1", "9223372036854775807", "18446744073709551615"}) {
    auto r = DecodeHttpApiResponse(std::string(R"({"statusCode":)") + bad + "}");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().reason(), "function_error");
    EXPECT_NE(r.status().message().find("statusCode"), std::string::npos);
  }
  EXPECT_TRUE(DecodeHttpApiResponse(R"({"statusCode":599})").ok());
}

TEST(HttpApiResponseTest, ResponseRoundTrips) {
  for (ApiEventFormat format : {ApiEventFormat::kHttpV2, ApiEventFormat::kRestV1}) {
    ApiResponse r;
    r.status = 207;
    r.content_type = "application/octet-stream";
    r.headers = {{"X-Model-Version", "3"}, {"Retry-After", "1"}};
    r.body = std::string("\0\1\2\xfe", 4);
    ApiResponse back = DecodeResponse(EncodeApiResponse(format, r));
    EXPECT_EQ(back.status, r.status);
    EXPECT_EQ(back.content_type, r.content_type);
    EXPECT_EQ(back.headers, r.headers);
    EXPECT_EQ(back.body, r.body);
    r.content_type = "application/problem+json";
    r.body = R"({"code":"x"})";
    back = DecodeResponse(EncodeApiResponse(format, r));
    EXPECT_EQ(back.body, r.body);
    EXPECT_EQ(back.content_type, r.content_type);
  }
}

TEST(ApiEventTest, RestApiV1) {
  auto doc = Json::Parse(R"({"resource":"/{proxy+}","path":"/v2/models/m/infer","httpMethod":"POST",
    "headers":{"Content-Type":"application/json","X-Num":1},"queryStringParameters":{"x":"y","n":2,"z":"w"},
    "requestContext":{"stage":"prod"},"body":"e30=","isBase64Encoded":true})");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(DetectApiEventFormat(*doc), ApiEventFormat::kRestV1);
  auto r = DecodeApiEvent(*doc, ApiEventFormat::kRestV1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->path, "/v2/models/m/infer");
  EXPECT_EQ(r->query, "x=y&z=w");
  EXPECT_EQ(r->body, "{}");
  HeaderList want = {{"content-type", "application/json"}};
  EXPECT_EQ(r->headers, want);
  auto resp = Json::Parse(EncodeApiResponse(ApiEventFormat::kRestV1, ApiResponse{}));
  ASSERT_TRUE(resp.ok());
  EXPECT_TRUE(resp->Find("multiValueHeaders")->is_object());
  resp = Json::Parse(EncodeApiResponse(ApiEventFormat::kHttpV2, ApiResponse{}));
  EXPECT_EQ(resp->Find("multiValueHeaders"), nullptr);
}

TEST(ApiEventTest, WhatIsNotAnApiEvent) {
  for (const char* payload :
       {R"({"inputs":[[1]]})", R"([1])", R"("2.0")", R"({"version":"2.0","rawPath":"/"})",
        R"({"version":"1.0","requestContext":{"http":{}}})", R"({"httpMethod":7})"}) {
    auto doc = Json::Parse(payload);
    ASSERT_TRUE(doc.ok()) << payload;
    EXPECT_EQ(DetectApiEventFormat(*doc), std::nullopt) << payload;
  }
}

TEST(ApiEventTest, MalformedEventsAreInvalidRequests) {
  for (const char* payload :
       {R"({"version":"2.0","requestContext":{"http":{}}})",
        R"({"version":"2.0","requestContext":{"http":{"method":"GET"}},"body":5})",
        R"({"version":"2.0","requestContext":{"http":{"method":"GET"}},"body":"***",)"
        R"("isBase64Encoded":true})"}) {
    auto doc = Json::Parse(payload);
    ASSERT_TRUE(doc.ok()) << payload;
    auto r = DecodeApiEvent(*doc, ApiEventFormat::kHttpV2);
    ASSERT_FALSE(r.ok()) << payload;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().reason(), "invalid_request");
  }
}

}  // namespace
}  // namespace modelfn::aws
