#include "faces/sample_events.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "faces/aws/events.h"
#include "faces/aws/object_events.h"
#include "faces/azure/invocation.h"
#include "faces/gcp/cloudevent.h"

namespace modelfn::sample_events {
namespace {

constexpr int64_t kWall = 1'764'800'000'000;

TEST(SampleEventsTest, AnS3EventIsWhatTheLambdaFaceReadsAsObjectsCreated) {
  std::string text = S3Event(
      {{"bucket", "incoming/my file+1.jsonl", 123, "abc"}, {"bucket", "incoming/b.csv", 5, ""}},
      kWall);
  auto event = Json::Parse(text);
  ASSERT_TRUE(event.ok()) << text;
  std::string source;
  ASSERT_TRUE(IsRecordsEvent(*event, &source));
  EXPECT_EQ(source, "aws:s3");
  const Json& rec = event->Find("Records")->AsArray()[0];
  const Json& obj = *rec.Find("s3")->Find("object");
  EXPECT_EQ(obj.Find("key")->AsString(), "incoming/my+file%2B1.jsonl");
  EXPECT_EQ(DecodeS3Key(obj.Find("key")->AsString()), "incoming/my file+1.jsonl");
  EXPECT_EQ(obj.Find("size")->AsInt64(), 123);
  EXPECT_EQ(obj.Find("eTag")->AsString(), "abc");
  EXPECT_EQ(rec.Find("eventName")->AsString(), "ObjectCreated:Put");
  EXPECT_EQ(rec.Find("s3")->Find("bucket")->Find("arn")->AsString(), "arn:aws:s3:::bucket");
  EXPECT_EQ(event->Find("Records")->AsArray().size(), 2u);
}

TEST(SampleEventsTest, AnSqsEventCarriesEachBodyAndItsQueue) {
  SqsMessage first, second;
  first.body = R"({"inputs":[[1]]})";
  second.body = "second";
  second.message_id = "id-2";
  std::string text = SqsEvent({first, second}, "arn:aws:sqs:eu-west-1:000000000000:jobs", kWall);
  auto event = Json::Parse(text);
  ASSERT_TRUE(event.ok());
  std::string source;
  ASSERT_TRUE(IsRecordsEvent(*event, &source));
  EXPECT_EQ(source, "aws:sqs");
  const auto& recs = event->Find("Records")->AsArray();
  EXPECT_EQ(recs[0].Find("body")->AsString(), R"({"inputs":[[1]]})");
  EXPECT_EQ(recs[0].Find("awsRegion")->AsString(), "eu-west-1");
  EXPECT_EQ(recs[1].Find("messageId")->AsString(), "id-2");
  EXPECT_NE(recs[0].Find("messageId")->AsString(), recs[1].Find("messageId")->AsString());
}

TEST(SampleEventsTest, AnHttpApiEventDecodesToTheRequest) {
  std::string text =
      HttpApiEvent("POST", "/v1/infer", "a=1", R"({"inputs":[1]})", "application/json", kWall);
  auto decoded = DecodeEvent(text, "digits");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->kind, EventKind::kHttpV2);
  EXPECT_EQ(decoded->method, "POST");
  EXPECT_EQ(decoded->path, "/v1/infer");
  EXPECT_EQ(decoded->query, "a=1");
  EXPECT_EQ(decoded->body, R"({"inputs":[1]})");
  EXPECT_EQ(decoded->headers.at("content-type"), "application/json");
}

TEST(SampleEventsTest, AStorageCloudEventParsesAsAFinalizedObject) {
  std::string body =
      StorageCloudEvent({"bkt", "in/x.jsonl", 42, "application/jsonl", "7"}, "ev-1", kWall);
  HeaderList headers = {{"content-type", "application/cloudevents+json"}};
  auto ev = ParseCloudEvent(headers, body);
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->type, "google.cloud.storage.object.v1.finalized");
  EXPECT_EQ(ev->source, "//storage.googleapis.com/projects/_/buckets/bkt");
  EXPECT_EQ(ev->subject, "objects/in/x.jsonl");
  EXPECT_EQ(ev->id, "ev-1");
  auto doc = Json::Parse(body);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("data")->Find("name")->AsString(), "in/x.jsonl");
  EXPECT_EQ(doc->Find("data")->Find("size")->AsString(), "42");
}

TEST(SampleEventsTest, AnAzureBlobInvocationIsABlobTrigger) {
  auto inv =
      ParseAzureInvocation(AzureBlobInvocation({"data", "in/x.csv", 9, "0x8DCABC", ""}, "blob"));
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  EXPECT_EQ(inv->trigger, AzureTrigger::kBlob);
  auto blob = BlobOf(*inv);
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->container, "data");
  EXPECT_EQ(blob->name, "in/x.csv");
  EXPECT_EQ(blob->etag, "0x8DCABC");
}

}  // namespace
}  // namespace modelfn::sample_events
