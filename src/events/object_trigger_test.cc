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
