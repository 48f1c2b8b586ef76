#include "faces/aws/object_events.h"

#include <gtest/gtest.h>

#include "engine/ort_engine.h"
#include "store/memory_store.h"

namespace modelfn {
namespace {

TEST(ObjectEventsTest, KeysAreUrlDecoded) {
  EXPECT_EQ(DecodeS3Key("incoming/my+file%3D1.json"), "incoming/my file=1.json");
  EXPECT_EQ(DecodeS3Key("a%2"), "a%2");
}

// .json objects are one request (rows objects are streamed: faces/row_objects_test.cc).
TEST(ObjectEventsTest, InputFormats) {
  EXPECT_EQ(InputObjectToRequest("x.json", "[[1,2]]").value().body, R"({"inputs":[[1,2]]})");
  EXPECT_EQ(InputObjectToRequest("x.json", R"({"inputs":[[1]]})").value().body,
            R"({"inputs":[[1]]})");
  EXPECT_FALSE(InputObjectToRequest("x.txt", "1,2").ok());
  EXPECT_EQ(InputObjectToRequest("x.json", "[1,").status().reason(), "invalid_json");
  EXPECT_EQ(InputObjectToRequest("x.json", "[[1]]").value().content_type, "application/json");
}

TEST(ObjectEventsTest, ImageObjectsAreTheirOwnBodies) {
  const std::string bytes("\x89PNG\r\n\x1a\n\0rest", 13);
  for (auto [key, type] : {std::pair{"a/b.jpg", "image/jpeg"}, std::pair{"c.JPEG", "image/jpeg"},
                           std::pair{"d.png", "image/png"}, std::pair{"e.WebP", "image/webp"}}) {
    auto r = InputObjectToRequest(key, bytes);
    ASSERT_TRUE(r.ok()) << key;
    EXPECT_EQ(r->content_type, type) << key;
    EXPECT_EQ(r->body, bytes) << key;  // unchanged: the format is judged by the bytes later
  }
  for (const char* key : {"x.gif", "x.jpg.txt", "jpg", "x."}) {
    auto r = InputObjectToRequest(key, bytes);
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_EQ(r.status().reason(), "invalid_request") << key;
  }
}

TEST(ObjectEventsTest, S3EventWritesOnceAndRecordsFailures) {
  auto e = OrtEngine::Load(std::string(MODELFN_SOURCE_DIR) + "/tests/models/fails/model.onnx",
                           OrtEngineOptions());
  ASSERT_TRUE(e.ok());
  FakeClock clock;
  EventLog log(-1, &clock);
  FunctionCore core(std::move(e).value(), FunctionIdentity{"fails", "1"}, InferenceLimits(), &clock,
                    &log);
  core.SetReady(InitTimings());
  MemoryStore bucket;
  ASSERT_TRUE(bucket.Put("incoming/good.jsonl", "[1,2,3,4]\n", PutOptions()).ok());
  ASSERT_TRUE(
      bucket.Put("incoming/bad.json", "[[1,2,3]]", PutOptions()).ok());  // model fails on 3 values
  BucketOpener opener = [&](const std::string&) -> StatusOr<std::unique_ptr<ObjectStore>> {
    struct Borrowed : ObjectStore {
      explicit Borrowed(ObjectStore* s) : s_(s) {}
      StatusOr<std::string> Get(const std::string& k) override { return s_->Get(k); }
      StatusOr<ObjectInfo> GetToFile(const std::string& k, const std::string& p,
                                     const ProgressFn& f) override {
        return s_->GetToFile(k, p, f);
      }
      StatusOr<ObjectInfo> Head(const std::string& k) override { return s_->Head(k); }
      StatusOr<ObjectInfo> Put(const std::string& k, std::string_view d,
                               const PutOptions& o) override {
        return s_->Put(k, d, o);
      }
      StatusOr<ObjectInfo> PutFile(const std::string& k, const std::string& p,
                                   const PutOptions& o) override {
        return s_->PutFile(k, p, o);
      }
      StatusOr<std::vector<ObjectInfo>> List(const std::string& p) override { return s_->List(p); }
      Status Delete(const std::string& k) override { return s_->Delete(k); }
      std::string Describe() const override { return s_->Describe(); }
      ObjectStore* s_;
    };
    return std::unique_ptr<ObjectStore>(new Borrowed(&bucket));
  };
  // The event names the version the bucket holds (a rows object read at another is superseded).
  const std::string e1 = bucket.Head("incoming/good.jsonl")->etag;
  auto event = Json::Parse(R"({"Records":[
    {"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"incoming/good.jsonl","eTag":")" +
                           e1 + R"("}}},
    {"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"incoming/bad.json","eTag":"e2"}}},
    {"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"results/x","eTag":"e3"}}}]})");
  ASSERT_TRUE(event.ok());
  std::string source;
  ASSERT_TRUE(IsRecordsEvent(*event, &source));
  auto first = Json::Parse(HandleRecordsEvent(*event, source, core, ObjectEventConfig(), opener));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->Find("processed")->AsInt64(), 1);
  EXPECT_EQ(first->Find("skipped")->AsInt64(), 1);
  ASSERT_EQ(first->Find("failed")->AsArray().size(), 1u);
  EXPECT_EQ(first->Find("failed")->AsArray()[0].Find("failure")->AsString(),
            "failed/bad.json.e2.error.json");
  auto failure = Json::Parse(bucket.Get("failed/bad.json.e2.error.json").value());
  EXPECT_EQ(failure->Find("error")->Find("code")->AsString(), "model_error");
  EXPECT_NE(bucket.Get("results/good.jsonl." + e1 + ".jsonl").value().find("\"y\":[1,2,3,4]"),
            std::string::npos);
  auto again = Json::Parse(HandleRecordsEvent(*event, source, core, ObjectEventConfig(), opener));
  EXPECT_EQ(again->Find("processed")->AsInt64(), 0);
  EXPECT_EQ(again->Find("duplicates")->AsInt64(), 1);
}

}  // namespace
}  // namespace modelfn
