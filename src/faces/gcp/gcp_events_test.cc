#include "faces/gcp/gcp_events.h"

#include <gtest/gtest.h>

#include "common/base64.h"
#include "common/json.h"
#include "engine/ort_engine.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace modelfn {
namespace {

// Lends a store to the handler, which owns what the opener returns.
struct Borrowed : ObjectStore {
  explicit Borrowed(ObjectStore* s) : s_(s) {}
  StatusOr<std::string> Get(const std::string& k) override { return s_->Get(k); }
  StatusOr<ObjectInfo> GetToFile(const std::string& k, const std::string& p,
                                 const ProgressFn& f) override {
    return s_->GetToFile(k, p, f);
  }
  StatusOr<ObjectInfo> Head(const std::string& k) override { return s_->Head(k); }
  StatusOr<ObjectInfo> Put(const std::string& k, std::string_view d, const PutOptions& o) override {
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

// The "fails" test model: y = x for four values, a model error otherwise.
class GcpEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = OrtEngine::Load(std::string(MODELFN_SOURCE_DIR) + "/tests/models/fails/model.onnx",
                             OrtEngineOptions());
    ASSERT_TRUE(e.ok());
    core_ = std::make_unique<FunctionCore>(std::move(e).value(), FunctionIdentity{"fails", "1"},
                                           InferenceLimits(), &clock_, &log_);
    core_->SetReady(InitTimings());
    handler_ = std::make_unique<GcpEventHandler>(
        core_.get(), "fails", GcpEventConfig(),
        [this](const std::string& bucket) -> StatusOr<std::unique_ptr<ObjectStore>> {
          opened_.push_back(bucket);
          if (bucket != "b") return Status(StatusCode::kUnavailable, "no such bucket");
          return std::unique_ptr<ObjectStore>(new Borrowed(store_ ? store_ : &bucket_));
        },
        &log_);
  }

  Outcome Storage(const std::string& name, const std::string& generation) {
    std::string data = R"({"bucket":"b","name":")" + name + R"(","generation":")" + generation +
                       R"(","etag":"CNHZkbuF/ugCEAE="})";
    return handler_->Handle({{"ce-specversion", "1.0"},
                             {"ce-id", "1"},
                             {"ce-source", "//storage.googleapis.com/projects/_/buckets/b"},
                             {"ce-type", std::string(kStorageFinalized)},
                             {"content-type", "application/json"}},
                            data);
  }

  Outcome PubSub(const std::string& message_data_json) {
    return handler_->Handle(
        {{"content-type", "application/cloudevents+json"}},
        R"({"specversion":"1.0","id":"m1","source":"//pubsub.googleapis.com/projects/p/topics/t",
            "type":"google.cloud.pubsub.topic.v1.messagePublished",
            "datacontenttype":"application/json",
            "data":{"subscription":"projects/p/subscriptions/s","message":)" +
            message_data_json + "}}");
  }

  static std::string Code(const Outcome& o) {
    auto doc = Json::Parse(o.body);
    const Json* c = doc.ok() ? doc->Find("code") : nullptr;
    return c && c->is_string() ? c->AsString() : "";
  }

  FakeClock clock_;
  EventLog log_{-1, &clock_};
  std::unique_ptr<FunctionCore> core_;
  std::unique_ptr<GcpEventHandler> handler_;
  MemoryStore bucket_;
  ObjectStore* store_ = nullptr;
  std::vector<std::string> opened_;
};

TEST_F(GcpEventsTest, StorageEventWritesTheAnswerOncePerGeneration) {
  // The in-memory bucket's versions ("m1", ...) stand for generations.
  const std::string g1 = bucket_.Put("incoming/rows.jsonl", "[1,2,3,4]\n", PutOptions())->etag;
  Outcome first = Storage("incoming/rows.jsonl", g1);
  ASSERT_EQ(first.status, 200) << first.body;
  auto summary = Json::Parse(first.body);
  EXPECT_EQ(summary->Find("processed")->AsInt64(), 1);
  const std::string out = "results/rows.jsonl." + g1 + ".jsonl";
  EXPECT_EQ(summary->Find("written")->AsArray()[0].AsString(), out);
  EXPECT_NE(bucket_.Get(out).value().find("\"y\":[1,2,3,4]"), std::string::npos);
  Outcome again = Storage("incoming/rows.jsonl", g1);
  EXPECT_EQ(Json::Parse(again.body)->Find("duplicates")->AsInt64(), 1);
  const std::string g2 = bucket_.Put("incoming/rows.jsonl", "[4,3,2,1]\n", PutOptions())->etag;
  Outcome rewritten = Storage("incoming/rows.jsonl", g2);
  EXPECT_EQ(Json::Parse(rewritten.body)->Find("processed")->AsInt64(), 1);
  // A late event for the first generation does not score the second under the first's name.
  ASSERT_TRUE(bucket_.Delete(out).ok());
  Outcome late = Storage("incoming/rows.jsonl", g1);
  EXPECT_EQ(Json::Parse(late.body)->Find("superseded")->AsInt64(), 1);
  EXPECT_FALSE(bucket_.Head(out).ok());
}

TEST_F(GcpEventsTest, AMissingObjectIsRecordedAsAFailure) {
  Outcome o = Storage("incoming/gone.json", "5");
  ASSERT_EQ(o.status, 200) << o.body;
  auto failure = Json::Parse(bucket_.Get("failed/gone.json.5.error.json").value());
  ASSERT_TRUE(failure.ok());
  EXPECT_EQ(failure->Find("input")->AsString(), "incoming/gone.json");
  EXPECT_EQ(failure->Find("etag")->AsString(), "CNHZkbuF/ugCEAE=");
  EXPECT_EQ(failure->Find("error")->Find("code")->AsString(), "not_found");
}

TEST_F(GcpEventsTest, AnUnreadableInputAndAModelErrorAreRecorded) {
  ASSERT_TRUE(bucket_.Put("incoming/x.txt", "1,2", PutOptions()).ok());
  const std::string csv_gen = bucket_.Put("incoming/x.csv", "1,2", PutOptions())->etag;
  ASSERT_TRUE(bucket_.Put("incoming/three.json", "[[1,2,3]]", PutOptions()).ok());
  EXPECT_EQ(Storage("incoming/x.txt", "1").status, 200);
  EXPECT_EQ(Storage("incoming/x.csv", csv_gen).status, 200);
  EXPECT_EQ(Storage("incoming/three.json", "1").status, 200);
  EXPECT_EQ(Json::Parse(bucket_.Get("failed/x.txt.1.error.json").value())
                ->Find("error")
                ->Find("code")
                ->AsString(),
            "invalid_request");
  // Its only row refused by the model (two values, not four): no output, the row listed.
  auto csv = Json::Parse(bucket_.Get("failed/x.csv." + csv_gen + ".error.json").value());
  EXPECT_EQ(csv->Find("error")->Find("code")->AsString(), "rows_failed");
  EXPECT_EQ(csv->Find("failed_rows")->AsArray()[0].Find("code")->AsString(), "model_error");
  EXPECT_FALSE(bucket_.Head("results/x.csv." + csv_gen + ".csv").ok());
  EXPECT_EQ(Json::Parse(bucket_.Get("failed/three.json.1.error.json").value())
                ->Find("error")
                ->Find("code")
                ->AsString(),
            "model_error");
}

TEST_F(GcpEventsTest, ObjectsOutsideTheInputPrefixAreSkippedUnopened) {
  Outcome o = Storage("results/rows.jsonl.17.jsonl", "3");
  ASSERT_EQ(o.status, 200);
  EXPECT_EQ(Json::Parse(o.body)->Find("skipped")->AsInt64(), 1);
  EXPECT_TRUE(opened_.empty());
}

// A failure that cannot be written is not acknowledged: the delivery is retried.
TEST_F(GcpEventsTest, AFailureThatCannotBeRecordedAsksForRedelivery) {
  FaultyStore faulty(&bucket_);
  faulty.FailAfter(0, Status(StatusCode::kUnavailable, "bucket went away"));
  store_ = &faulty;
  Outcome o = Storage("incoming/gone.json", "5");
  EXPECT_EQ(o.status, 503);
  EXPECT_EQ(Code(o), "store_unavailable");
}

TEST_F(GcpEventsTest, StorageEventDataMustNameBucketAndObject) {
  Outcome o = handler_->Handle({{"ce-specversion", "1.0"},
                                {"ce-id", "1"},
                                {"ce-source", "s"},
                                {"ce-type", std::string(kStorageFinalized)}},
                               R"({"bucket":"b"})");
  EXPECT_EQ(o.status, 400);
  EXPECT_EQ(Code(o), "invalid_event_data");
  EXPECT_EQ(o.content_type, "application/problem+json");
}

TEST_F(GcpEventsTest, PubSubMessageDataIsTheRequestBody) {
  Outcome o =
      PubSub(R"({"messageId":"42","data":")" + Base64Encode(R"({"inputs":[[1,2,3,4]]})") + R"("})");
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_NE(o.body.find("\"y\":[[1,2,3,4]]"), std::string::npos) << o.body;
  Outcome batch = PubSub(R"({"messageId":"43","data":")" +
                         Base64Encode(R"({"items":[{"inputs":[[1,2,3,4]]}]})") + R"("})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_NE(batch.body.find("\"results\""), std::string::npos) << batch.body;
}

TEST_F(GcpEventsTest, BadPubSubMessagesAreTyped) {
  EXPECT_EQ(Code(PubSub(R"({"messageId":"1","data":"%%%not base64"})")), "invalid_base64");
  EXPECT_EQ(Code(PubSub(R"({"messageId":"1","data":12})")), "invalid_event_data");
  EXPECT_EQ(Code(PubSub(R"("just a string")")), "invalid_event_data");
  // Decoded fine, but not a request the model takes: the core's own answer.
  Outcome text = PubSub(R"({"messageId":"1","data":")" + Base64Encode("test message 3") + R"("})");
  EXPECT_EQ(text.status, 400);
  EXPECT_EQ(Code(text), "invalid_json");
}

// Pub/Sub push without Eventarc: the subscription's own JSON envelope, no CloudEvent attributes.
TEST_F(GcpEventsTest, APushSubscriptionsEnvelopeIsServedToo) {
  std::string envelope = R"({"message":{"messageId":"9","data":")" +
                         Base64Encode(R"({"inputs":[[1,2,3,4]]})") +
                         R"("},"subscription":"projects/p/subscriptions/s"})";
  Outcome o = handler_->Handle({{"content-type", "application/json"}}, envelope);
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_NE(o.body.find("\"y\":[[1,2,3,4]]"), std::string::npos) << o.body;
  // Without a subscription it is no envelope: a CloudEvent lacking its attributes.
  Outcome bare =
      handler_->Handle({{"content-type", "application/json"}}, R"({"message":{"data":"e30="}})");
  EXPECT_EQ(Code(bare), "missing_event_attribute");
  Outcome bad = handler_->Handle({{"content-type", "application/json"}},
                                 R"({"message":{"data":"%%"},"subscription":"s"})");
  EXPECT_EQ(Code(bad), "invalid_base64");
}

TEST_F(GcpEventsTest, OtherEventTypesAreRefused) {
  Outcome o = handler_->Handle({{"ce-specversion", "1.0"},
                                {"ce-id", "1"},
                                {"ce-source", "s"},
                                {"ce-type", "google.firebase.auth.user.v1.created"}},
                               "{}");
  EXPECT_EQ(o.status, 400);
  EXPECT_EQ(Code(o), "unsupported_event_type");
}

TEST_F(GcpEventsTest, MalformedEventsGetTheirProblem) {
  Outcome o = handler_->Handle({{"ce-id", "1"}, {"ce-source", "s"}, {"ce-type", "t"}}, "{}");
  EXPECT_EQ(o.status, 400);
  EXPECT_EQ(Code(o), "missing_event_attribute");
  Outcome j = handler_->Handle({{"content-type", "application/cloudevents+json"}}, "{nope");
  EXPECT_EQ(Code(j), "invalid_json");
}

}  // namespace
}  // namespace modelfn
