#include "faces/gcp/cloudevent.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

HeaderList BinaryHeaders() {
  return {{"ce-specversion", "1.0"},
          {"ce-id", "A234-1234-1234"},
          {"ce-source", "//pubsub.googleapis.com/projects/p/topics/t"},
          {"ce-type", "google.cloud.pubsub.topic.v1.messagePublished"},
          {"content-type", "application/json"}};
}

TEST(CloudEventTest, BinaryModeReadsHeadersAndBody) {
  HeaderList h = BinaryHeaders();
  h.push_back({"ce-subject", "objects/a%20b.json"});
  h.push_back({"ce-time", "2026-12-02T15:00:00Z"});
  h.push_back({"ce-traceparent", "00-abc-01"});
  h.push_back({"x-other", "kept out"});
  auto e = ParseCloudEvent(h, R"({"k":1})");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->mode, CloudEvent::Mode::kBinary);
  EXPECT_EQ(e->id, "A234-1234-1234");
  EXPECT_EQ(e->subject, "objects/a b.json");  // percent-decoded
  EXPECT_EQ(e->time, "2026-12-02T15:00:00Z");
  EXPECT_EQ(e->datacontenttype, "application/json");
  EXPECT_EQ(e->data, R"({"k":1})");
  ASSERT_EQ(e->extensions.size(), 1u);
  EXPECT_EQ(e->extensions.at("traceparent"), "00-abc-01");
}

TEST(CloudEventTest, EachMissingRequiredHeaderIsNamed) {
  for (const char* drop : {"ce-specversion", "ce-id", "ce-source", "ce-type"}) {
    HeaderList h;
    for (auto& kv : BinaryHeaders())
      if (kv.first != drop) h.push_back(kv);
    auto e = ParseCloudEvent(h, "{}");
    ASSERT_FALSE(e.ok()) << drop;
    EXPECT_EQ(e.status().reason(), "missing_event_attribute") << drop;
    EXPECT_NE(e.status().message().find(drop), std::string::npos) << e.status().message();
  }
}

TEST(CloudEventTest, AnEmptyRequiredAttributeIsMissing) {
  HeaderList h = BinaryHeaders();
  h[1].second = "";
  EXPECT_EQ(ParseCloudEvent(h, "{}").status().reason(), "missing_event_attribute");
}

TEST(CloudEventTest, OnlySpecVersionOneIsServed) {
  HeaderList h = BinaryHeaders();
  h[0].second = "0.3";
  auto e = ParseCloudEvent(h, "{}");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().reason(), "unsupported_specversion");
  auto s = ParseCloudEvent({{"content-type", "application/cloudevents+json"}},
                           R"({"specversion":"2.0","id":"1","source":"s","type":"t"})");
  EXPECT_EQ(s.status().reason(), "unsupported_specversion");
}

TEST(CloudEventTest, StructuredModeReadsTheJsonEvent) {
  auto e = ParseCloudEvent({{"content-type", "application/cloudevents+json; charset=utf-8"}},
                           R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
                               "subject":"sub","datacontenttype":"application/json",
                               "myext":"v","num":5,"flag":true,
                               "data":{"a":[1,2]}})");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->mode, CloudEvent::Mode::kStructured);
  EXPECT_EQ(e->subject, "sub");
  EXPECT_EQ(e->data, R"({"a":[1,2]})");
  EXPECT_TRUE(e->data_is_json_text);
  EXPECT_EQ(e->extensions.at("myext"), "v");
  EXPECT_EQ(e->extensions.at("num"), "5");
  EXPECT_EQ(e->extensions.at("flag"), "true");
}

TEST(CloudEventTest, StructuredDataBase64IsDecoded) {
  auto e = ParseCloudEvent({{"content-type", "application/cloudevents+json"}},
                           R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
                               "data_base64":"AQIDBA=="})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->data, std::string("\x01\x02\x03\x04", 4));
  auto bad = ParseCloudEvent({{"content-type", "application/cloudevents+json"}},
                             R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
                                 "data_base64":"not base64!"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().reason(), "invalid_base64");
}

TEST(CloudEventTest, StructuredTextDataIsItsString) {
  auto e = ParseCloudEvent({{"content-type", "application/cloudevents+json"}},
                           R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
                               "datacontenttype":"text/plain","data":"hello"})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->data, "hello");
  EXPECT_FALSE(e->data_is_json_text);
}

TEST(CloudEventTest, MalformedStructuredEventsAreTyped) {
  HeaderList h = {{"content-type", "application/cloudevents+json"}};
  EXPECT_EQ(ParseCloudEvent(h, "{\"specversion\":").status().reason(), "invalid_json");
  EXPECT_EQ(ParseCloudEvent(h, "[1]").status().reason(), "invalid_cloudevent");
  EXPECT_EQ(ParseCloudEvent(h, R"({"specversion":"1.0","id":7,"source":"/s","type":"t"})")
                .status()
                .reason(),
            "invalid_cloudevent");
  EXPECT_EQ(ParseCloudEvent(h, R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
                                   "data":1,"data_base64":"AQ=="})")
                .status()
                .reason(),
            "invalid_cloudevent");
  EXPECT_EQ(
      ParseCloudEvent(h, R"({"specversion":"1.0","source":"/s","type":"t"})").status().reason(),
      "missing_event_attribute");
  EXPECT_EQ(ParseCloudEvent({{"content-type", "application/cloudevents-batch+json"}}, "[]")
                .status()
                .reason(),
            "unsupported_media_type");
}

TEST(CloudEventTest, DetectionByHeaderOrMediaType) {
  EXPECT_TRUE(LooksLikeCloudEvent({{"ce-id", "1"}}));
  EXPECT_TRUE(LooksLikeCloudEvent({{"content-type", "application/cloudevents+json"}}));
  EXPECT_FALSE(LooksLikeCloudEvent({{"content-type", "application/json"}, {"x-id", "1"}}));
}

TEST(CloudEventTest, PercentDecodingKeepsStrayPercents) {
  EXPECT_EQ(PercentDecode("a%20b%e2%82%AC"), "a b\xe2\x82\xac");
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
}

}  // namespace
}  // namespace modelfn
