#include "faces/aws/events.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace modelfn {
namespace {

// Shapes follow AWS's documentation of the payload formats.
TEST(EventsTest, HttpApiV2AndFunctionUrl) {
  auto e = DecodeEvent(
      R"({"version":"2.0","routeKey":"$default","rawPath":"/v1/infer","rawQueryString":"a=1",
    "headers":{"Content-Type":"application/json","X-Request-Id":"r-1"},
    "requestContext":{"http":{"method":"POST","path":"/v1/infer","protocol":"HTTP/1.1","sourceIp":"1.2.3.4"},
    "requestId":"id","stage":"$default"},"body":"eyJpbnB1dHMiOiBbWzFdXX0=","isBase64Encoded":true})",
      "m");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->kind, EventKind::kHttpV2);
  EXPECT_EQ(e->method, "POST");
  EXPECT_EQ(e->path, "/v1/infer");
  EXPECT_EQ(e->query, "a=1");
  EXPECT_EQ(e->body, R"({"inputs": [[1]]})");
  Invocation inv = e->ToInvocation();
  EXPECT_EQ(*inv.content_type, "application/json");
  EXPECT_EQ(*inv.request_id, "r-1");
  Outcome o;
  o.status = 400;
  o.content_type = "application/problem+json";
  o.body = "{}";
  auto resp = Json::Parse(EncodeHttpResponse(*e, o));
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->Find("statusCode")->AsInt64(), 400);
  EXPECT_EQ(resp->Find("headers")->Find("Content-Type")->AsString(), "application/problem+json");
  EXPECT_FALSE(resp->Find("isBase64Encoded")->AsBool());
}

TEST(EventsTest, RequestIdIsKeptOnlyWhenShortVisibleAscii) {
  auto id_of = [](const std::string& id_json) -> std::string {
    auto e =
        DecodeEvent(R"({"version":"2.0","rawPath":"/v1/infer","headers":{"X-Request-Id":)" +
                        id_json + R"(},"requestContext":{"http":{"method":"POST"}},"body":""})",
                    "m");
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok()) return "?";
    Invocation inv = e->ToInvocation();
    return inv.request_id ? *inv.request_id : "(generated)";
  };
  EXPECT_EQ(id_of(R"("abc-123")"), "abc-123");
  EXPECT_EQ(id_of(R"("a\r\nX-Evil: 1")"), "(generated)");
  EXPECT_EQ(id_of(R"("with space")"), "(generated)");
  EXPECT_EQ(id_of(R"("caf\u00e9")"), "(generated)");
  EXPECT_EQ(id_of(R"("a\u0000b")"), "(generated)");
  EXPECT_EQ(id_of("\"" + std::string(129, 'x') + "\""), "(generated)");
}

TEST(EventsTest, RestApiV1) {
  auto e = DecodeEvent(R"({"resource":"/{proxy+}","path":"/v2/models/m/infer","httpMethod":"POST",
    "headers":{"content-type":"application/json"},"multiValueHeaders":{},"queryStringParameters":{"x":"y"},
    "requestContext":{"resourcePath":"/{proxy+}","httpMethod":"POST","stage":"prod"},"body":"{}","isBase64Encoded":false})",
                       "m");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, EventKind::kHttpV1);
  EXPECT_EQ(e->path, "/v2/models/m/infer");
  EXPECT_EQ(e->query, "x=y");
  Outcome o;
  o.content_type = "application/octet-stream";
  o.body = std::string("\x00\x01", 2);
  auto resp = Json::Parse(EncodeHttpResponse(*e, o));
  EXPECT_TRUE(resp->Find("isBase64Encoded")->AsBool());
  EXPECT_EQ(resp->Find("body")->AsString(), "AAE=");
  EXPECT_TRUE(resp->Find("multiValueHeaders")->is_object());
}

TEST(EventsTest, DirectInvokeRoutesByBody) {
  EXPECT_EQ(DecodeEvent(R"({"inputs":[[1,2]]})", "m")->path, "/v1/infer");
  EXPECT_EQ(DecodeEvent(R"({"items":[]})", "m")->path, "/v1/batch");
  EXPECT_EQ(
      DecodeEvent(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})", "m")
          ->path,
      "/v2/models/m/infer");
  EXPECT_EQ(DecodeEvent("not json", "m").status().reason(), "invalid_json");
  EXPECT_EQ(DecodeEvent("[1]", "m").status().reason(), "invalid_request");
}

TEST(EventsTest, Base64) {
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(Base64Decode("aGVsbG8=").value(), "hello");
  EXPECT_EQ(Base64Decode("aGVsbG8").status().reason(), "invalid_request");
}

}  // namespace
}  // namespace modelfn
