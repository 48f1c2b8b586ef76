#include "events/object_trigger.h"

#include <gtest/gtest.h>

#include <map>

#include "common/json.h"
#include "pool/forward_types.h"
#include "store/memory_store.h"

namespace modelfn::events {
namespace {

class TriggerTest : public ::testing::Test {
 protected:
  TriggerTest() {
    auto store = std::make_unique<MemoryStore>();
    bucket_ = store.get();
    TriggerConfig c;
    c.function = "digits";
    c.bucket = "in-bucket";
    c.prefix = "incoming/";
    c.suffix = ".jsonl";
    trigger_ = std::make_unique<ObjectTrigger>(
        c, std::move(store),
        [this](const TriggerDelivery& d) -> StatusOr<bool> {
          if (down) return Status(StatusCode::kUnavailable, "queue down");
          if (keys_.count(d.key)) return false;
          keys_[d.key] = d.body;
          EXPECT_EQ(d.function, "digits");
          EXPECT_EQ(d.path, kLambdaInvokePath);
          return true;
        },
        &clock_, nullptr);
  }
  void Put(const std::string& key, const std::string& data) {
    ASSERT_TRUE(bucket_->Put(key, data, PutOptions()).ok());
  }
  FakeClock clock_;
  MemoryStore* bucket_;
  std::unique_ptr<ObjectTrigger> trigger_;
  std::map<std::string, std::string> keys_;
  bool down = false;
};

TEST_F(TriggerTest, EachNewObjectIsDeliveredOnceAsAnS3Event) {
  Put("incoming/a.jsonl", "{}\n");
  Put("incoming/b.jsonl", "{}\n");
  Put("incoming/skip.csv", "x");   // not the suffix
  Put("results/c.jsonl", "{}\n");  // not the prefix
  ASSERT_TRUE(trigger_->Scan().ok());
  ASSERT_EQ(keys_.size(), 2u);
  auto event = Json::Parse(keys_.begin()->second);
  ASSERT_TRUE(event.ok());
  const Json& rec = event->Find("Records")->AsArray()[0];
  EXPECT_EQ(rec.Find("eventSource")->AsString(), "aws:s3");
  EXPECT_EQ(rec.Find("s3")->Find("bucket")->Find("name")->AsString(), "in-bucket");
  EXPECT_EQ(rec.Find("s3")->Find("object")->Find("key")->AsString(), "incoming/a.jsonl");
  // A rescan delivers nothing again; a new version of an object is new.
  ASSERT_TRUE(trigger_->Scan().ok());
  EXPECT_EQ(keys_.size(), 2u);
  EXPECT_EQ(trigger_->counters().duplicates, 2u);
  Put("incoming/a.jsonl", "{\"changed\":1}\n");
  ASSERT_TRUE(trigger_->Scan().ok());
  EXPECT_EQ(keys_.size(), 3u);
  EXPECT_EQ(trigger_->counters().delivered, 3u);
}

// The shape follows the face: a CloudEvent POSTed to /, an Azure blob invocation posted to
// /<function>, each keyed by its source.
TEST(TriggerShapeTest, CloudEventsAndAzureBlobInvocations) {
  FakeClock clock;
  for (TriggerShape shape : {TriggerShape::kCloudEvent, TriggerShape::kAzureBlob}) {
    auto store = std::make_unique<MemoryStore>();
    ASSERT_TRUE(store->Put("in/a.csv", "1,2\n", PutOptions()).ok());
    TriggerConfig c;
    c.function = "score";
    c.shape = shape;
    c.bucket = "uploads";
    c.source_id = shape == TriggerShape::kAzureBlob ? "az://uploads" : "file:///srv";
    c.prefix = "in/";
    std::vector<TriggerDelivery> got;
    ObjectTrigger t(
        c, std::move(store),
        [&](const TriggerDelivery& d) -> StatusOr<bool> {
          got.push_back(d);
          return true;
        },
        &clock, nullptr);
    ASSERT_TRUE(t.Scan().ok());
    ASSERT_EQ(got.size(), 1u);
    auto doc = Json::Parse(got[0].body);
    ASSERT_TRUE(doc.ok());
    if (shape == TriggerShape::kAzureBlob) {
      EXPECT_EQ(got[0].path, std::string(kAzureInvokePrefix) + "score");
      EXPECT_EQ(doc->Find("Metadata")->Find("BlobTrigger")->AsString(), "uploads/in/a.csv");
      EXPECT_EQ(doc->Find("Metadata")->Find("sys")->Find("MethodName")->AsString(), "score");
      EXPECT_EQ(got[0].key.rfind("az://uploads/in/a.csv#", 0), 0u) << got[0].key;
    } else {
      EXPECT_EQ(got[0].path, "/");
      EXPECT_EQ(got[0].content_type, "application/cloudevents+json");
      EXPECT_EQ(doc->Find("data")->Find("bucket")->AsString(), "uploads");
      EXPECT_EQ(got[0].key.rfind("file:///srv/in/a.csv#", 0), 0u) << got[0].key;
    }
  }
}

TEST_F(TriggerTest, WhatCouldNotBeQueuedIsQueuedByTheNextScan) {
  Put("incoming/a.jsonl", "{}\n");
  down = true;
  EXPECT_FALSE(trigger_->Scan().ok());
  EXPECT_TRUE(keys_.empty());
  down = false;
  ASSERT_TRUE(trigger_->Scan().ok());
  EXPECT_EQ(keys_.size(), 1u);
}

}  // namespace
}  // namespace modelfn::events
