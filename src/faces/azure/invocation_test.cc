#include "faces/azure/invocation.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace modelfn {
namespace {

// The documented payloads (tests/fixtures/azure/README.md names their source).
std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(MODELFN_SOURCE_DIR) + "/tests/fixtures/azure/" + name);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(AzureInvocation, TheDocumentedQueuePayloadIsAMessage) {
  auto inv = ParseAzureInvocation(Fixture("queue_request.json"));
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  EXPECT_EQ(inv->trigger, AzureTrigger::kMessage);
  EXPECT_EQ(inv->binding, "myQueueItem");
  EXPECT_EQ(MessageOf(*inv), "{ message: \"Message sent\" }");
  ASSERT_NE(inv->metadata.Find("DequeueCount"), nullptr);
  EXPECT_EQ(inv->metadata.Find("DequeueCount")->AsInt64(), 1);
}

TEST(AzureInvocation, TheDocumentedOrderRequestIsAnHttpTrigger) {
  auto inv = ParseAzureInvocation(Fixture("http_order_request.json"));
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  EXPECT_EQ(inv->trigger, AzureTrigger::kHttp);
  EXPECT_EQ(inv->binding, "req");
  auto req = HttpRequestOf(*inv);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->path, "/api/order");
  EXPECT_EQ(req->body, "{\"id\":1005,\"quantity\":2,\"color\":\"black\"}");
  EXPECT_EQ(req->content_type, "application/json");
}

TEST(AzureInvocation, ABlobTriggerNamesItsContainerBlobAndEtag) {
  auto inv = ParseAzureInvocation(Fixture("blob_request.json"));
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  EXPECT_EQ(inv->trigger, AzureTrigger::kBlob);
  auto blob = BlobOf(*inv);
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->container, "samples-workitems");
  EXPECT_EQ(blob->name, "incoming/rows.json");
  EXPECT_EQ(blob->etag, "\"0x8DCB1A2B3C4D5E6\"");
  EXPECT_EQ(blob->tag, "0x8DCB1A2B3C4D5E6");
}

// The reply has the keys and types of the documented response payload.
TEST(AzureInvocation, TheReplyHasTheDocumentedShape) {
  auto documented = Json::Parse(Fixture("response_example.json"));
  ASSERT_TRUE(documented.ok());
  AzureReply reply;
  reply.outputs.Set("res", Json::MakeObject());
  reply.logs = {"Log message 1", "Log message 2"};
  reply.return_value = "{\"hello\":\"world\"}";
  auto ours = Json::Parse(reply.ToJson());
  ASSERT_TRUE(ours.ok());
  for (const char* key : {"Outputs", "Logs", "ReturnValue"}) {
    ASSERT_NE(ours->Find(key), nullptr) << key;
    EXPECT_EQ(ours->Find(key)->type(), documented->Find(key)->type()) << key;
  }
  EXPECT_EQ(ours->Find("Logs")->Dump(), documented->Find("Logs")->Dump());
  EXPECT_EQ(ours->Find("ReturnValue")->AsString(), documented->Find("ReturnValue")->AsString());
  // Without a return value: null, as in the documented order answer.
  auto order = Json::Parse(Fixture("http_order_response.json"));
  ASSERT_TRUE(order.ok());
  auto empty = Json::Parse(AzureReply().ToJson());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->Find("ReturnValue")->is_null());
  EXPECT_TRUE(order->Find("ReturnValue")->is_null());
}

TEST(AzureInvocation, BadPayloadsAreTyped) {
  struct Case {
    const char* body;
    const char* code;
  } cases[] = {
      {"{", "invalid_json"},
      {"[]", "invalid_invocation"},
      {"{\"Metadata\": {}}", "invalid_invocation"},
      {"{\"Data\": \"x\"}", "invalid_invocation"},
      {"{\"Data\": {}}", "invalid_invocation"},
      {"{\"Data\": {\"a\": 1}, \"Metadata\": 3}", "invalid_invocation"},
      {"{\"Data\": {\"a\": \"1\", \"b\": \"2\"}}", "unsupported_trigger"},
  };
  for (const auto& c : cases) {
    auto inv = ParseAzureInvocation(c.body);
    ASSERT_FALSE(inv.ok()) << c.body;
    EXPECT_EQ(inv.status().reason(), c.code) << c.body;
  }
  for (const char* bad :
       {"{\"Data\": {\"b\": \"\"}, \"Metadata\": {\"BlobTrigger\": 7}}",
        "{\"Data\": {\"b\": \"\"}, \"Metadata\": {\"BlobTrigger\": \"nocontainer\"}}",
        "{\"Data\": {\"b\": \"\"}, \"Metadata\": {\"BlobTrigger\": \"/x\"}}",
        "{\"Data\": {\"b\": \"\"}, \"Metadata\": {\"BlobTrigger\": \"c/\"}}"}) {
    auto inv = ParseAzureInvocation(bad);
    ASSERT_TRUE(inv.ok()) << bad;
    EXPECT_EQ(inv->trigger, AzureTrigger::kBlob);
    auto blob = BlobOf(*inv);
    ASSERT_FALSE(blob.ok()) << bad;
    EXPECT_EQ(blob.status().reason(), "invalid_invocation");
  }
}

TEST(AzureInvocation, AJsonMessageIsItsText) {
  auto inv =
      ParseAzureInvocation("{\"Data\": {\"msg\": {\"inputs\": [[1, 2]]}}, \"Metadata\": null}");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->trigger, AzureTrigger::kMessage);
  auto text = Json::Parse(MessageOf(*inv));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->Find("inputs")->AsArray().size(), 1u);
}

TEST(AzureInvocation, ForwardedRoutesReachTheCore) {
  EXPECT_EQ(ForwardedRoute("/api/infer", "api"), "/v1/infer");
  EXPECT_EQ(ForwardedRoute("/api/batch", "api"), "/v1/batch");
  EXPECT_EQ(ForwardedRoute("/api/health", "api"), "/v1/health");
  EXPECT_EQ(ForwardedRoute("/api/v1/infer", "api"), "/v1/infer");
  EXPECT_EQ(ForwardedRoute("/api/v2/models/m/infer", "api"), "/v2/models/m/infer");
  EXPECT_EQ(ForwardedRoute("/apix/infer", "api"), "/apix/infer");
  EXPECT_EQ(ForwardedRoute("/v1/infer", "api"), "/v1/infer");
  EXPECT_EQ(ForwardedRoute("/ml/infer", "ml"), "/v1/infer");
  EXPECT_EQ(ForwardedRoute("/infer", ""), "/infer");
  EXPECT_TRUE(IsInvocationPath("/order", "api"));
  EXPECT_FALSE(IsInvocationPath("/api", "api"));
  EXPECT_FALSE(IsInvocationPath("/v2", "api"));
  EXPECT_FALSE(IsInvocationPath("/api/infer", "api"));
  EXPECT_FALSE(IsInvocationPath("/", "api"));
}

}  // namespace
}  // namespace modelfn
