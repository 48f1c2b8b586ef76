#include "faces/gcp/legacy_event.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

Json Parse(std::string_view text) { return Json::Parse(text).value(); }

TEST(LegacyEventTest, StorageInTheContextFormSplitsTheResourceIntoSourceAndSubject) {
  Json body = Parse(R"({
    "context": {"eventId": "ev-17", "timestamp": "2026-11-02T08:15:00.250Z",
                "eventType": "google.storage.object.finalize",
                "resource": {"service": "storage.googleapis.com",
                             "name": "projects/_/buckets/photos/objects/in/2026/cat.json#1730535300250",
                             "type": "storage#object"}},
    "data": {"bucket": "photos", "name": "in/2026/cat.json", "generation": "1730535300250"}})");
  ASSERT_TRUE(IsLegacyEvent(body));
  auto e = LegacyToCloudEvent(body);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->mode, CloudEvent::Mode::kLegacy);
  EXPECT_EQ(e->id, "ev-17");
  EXPECT_EQ(e->type, "google.cloud.storage.object.v1.finalized");
  EXPECT_EQ(e->source, "//storage.googleapis.com/projects/_/buckets/photos");
  EXPECT_EQ(e->subject, "objects/in/2026/cat.json");  // no generation
  EXPECT_EQ(e->time, "2026-11-02T08:15:00.250Z");
  EXPECT_EQ(e->specversion, "1.0");
  EXPECT_EQ(e->datacontenttype, "application/json");
  ASSERT_TRUE(e->has_data);
  EXPECT_EQ(Parse(e->data).Dump(), body.Find("data")->Dump());
}

TEST(LegacyEventTest, PubSubInTheFlatFormWrapsTheMessageAndSetsItsIdAndTime) {
  Json body = Parse(R"({
    "eventId": "4711", "timestamp": "2026-11-02T09:00:00Z",
    "eventType": "providers/cloud.pubsub/eventTypes/topic.publish",
    "resource": "projects/acme/topics/scores",
    "data": {"@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
             "attributes": {"lang": "en"}, "data": "aGVsbG8="}})");
  ASSERT_TRUE(IsLegacyEvent(body));
  auto e = LegacyToCloudEvent(body);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->type, "google.cloud.pubsub.topic.v1.messagePublished");
  // No service in the body: it follows from the event type's prefix.
  EXPECT_EQ(e->source, "//pubsub.googleapis.com/projects/acme/topics/scores");
  EXPECT_EQ(e->subject, "");
  Json data = Parse(e->data);
  const Json* message = data.Find("message");
  ASSERT_NE(message, nullptr);
  EXPECT_EQ(message->Find("messageId")->AsString(), "4711");
  EXPECT_EQ(message->Find("publishTime")->AsString(), "2026-11-02T09:00:00Z");
  EXPECT_EQ(message->Find("data")->AsString(), "aGVsbG8=");
  EXPECT_EQ(message->Find("attributes")->Find("lang")->AsString(), "en");
  EXPECT_NE(message->Find("@type"), nullptr);  // kept as it came
  EXPECT_EQ(data.Find("subscription"), nullptr);
}

TEST(LegacyEventTest, TheContextWinsOverTheFlatFields) {
  Json body = Parse(R"({
    "eventId": "flat", "eventType": "google.storage.object.delete",
    "context": {"eventId": "ctx", "eventType": "google.pubsub.topic.publish",
                "resource": {"service": "pubsub.googleapis.com", "name": "projects/p/topics/t"}},
    "data": {}})");
  auto e = LegacyToCloudEvent(body);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->id, "ctx");
  EXPECT_EQ(e->type, "google.cloud.pubsub.topic.v1.messagePublished");
}

TEST(LegacyEventTest, EveryServedTypeMapsAndOthersAreTyped) {
  const std::pair<const char*, const char*> served[] = {
      {"google.storage.object.finalize", "google.cloud.storage.object.v1.finalized"},
      {"google.storage.object.delete", "google.cloud.storage.object.v1.deleted"},
      {"google.storage.object.archive", "google.cloud.storage.object.v1.archived"},
      {"google.storage.object.metadataUpdate", "google.cloud.storage.object.v1.metadataUpdated"},
      {"google.pubsub.topic.publish", "google.cloud.pubsub.topic.v1.messagePublished"},
  };
  for (const auto& [legacy, type] : served) {
    Json body = Parse(std::string(R"({"eventId":"1","eventType":")") + legacy +
                      R"(","resource":"projects/_/buckets/b/objects/o","data":{}})");
    auto e = LegacyToCloudEvent(body);
    ASSERT_TRUE(e.ok()) << legacy << ": " << e.status().ToString();
    EXPECT_EQ(e->type, type);
  }
  auto other = LegacyToCloudEvent(Parse(
      R"({"eventId":"1","eventType":"providers/cloud.firestore/eventTypes/document.write",
          "resource":"projects/p/databases/(default)/documents/c/d","data":{}})"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().reason(), "unsupported_event_type");
}

TEST(LegacyEventTest, MissingPartsAreTyped) {
  for (
      const char* text : {
          R"({"eventType":"google.pubsub.topic.publish","resource":"projects/p/topics/t","data":{}})",
          R"({"eventId":"","eventType":"google.pubsub.topic.publish","resource":"r","data":{}})",
          R"({"eventId":"1","eventType":"google.pubsub.topic.publish","data":{}})",
          R"({"eventId":"1","eventType":"google.pubsub.topic.publish","resource":{"service":"x"},"data":{}})",
      }) {
    auto e = LegacyToCloudEvent(Parse(text));
    ASSERT_FALSE(e.ok()) << text;
    EXPECT_EQ(e.status().reason(), "missing_event_attribute") << text;
  }
}

TEST(LegacyEventTest, OnlyBodiesWithDataAndAnEventTypeLookLegacy) {
  EXPECT_FALSE(IsLegacyEvent(Parse(R"({"inputs": [1, 2]})")));
  EXPECT_FALSE(IsLegacyEvent(Parse(R"({"eventType": "google.pubsub.topic.publish"})")));
  EXPECT_FALSE(IsLegacyEvent(Parse(R"({"message": {}, "subscription": "s"})")));
  EXPECT_FALSE(IsLegacyEvent(Parse(R"([1])")));
  EXPECT_TRUE(IsLegacyEvent(Parse(R"({"context": {"eventType": "x"}, "data": null})")));
}

}  // namespace
}  // namespace modelfn
