#include "faces/object_batch.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "engine/ort_engine.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace modelfn {
namespace {

// The "fails" test model: y = x for four values, a model error otherwise.
class ObjectBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = OrtEngine::Load(std::string(MODELFN_SOURCE_DIR) + "/tests/models/fails/model.onnx",
                             OrtEngineOptions());
    ASSERT_TRUE(e.ok());
    core_ = std::make_unique<FunctionCore>(std::move(e).value(), FunctionIdentity{"fails", "1"},
                                           InferenceLimits(), &clock_, &log_);
    core_->SetReady(InitTimings());
  }
  FakeClock clock_;
  EventLog log_{-1, &clock_};
  std::unique_ptr<FunctionCore> core_;
  MemoryStore store_;
};

TEST_F(ObjectBatchTest, AnObjectWithoutATagIsNamedNoEtag) {
  ASSERT_TRUE(store_.Put("in/a.json", "[[1,2,3,4]]", PutOptions()).ok());
  ObjectBatchConfig config;
  config.input_prefix = "in/";
  config.output_prefix = "out/";
  ObjectResult r = InferStoredObject(store_, ObjectRef{"in/a.json", "", ""}, config, *core_, "t");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
  EXPECT_EQ(r.written, "out/a.json.noetag.json");
  EXPECT_TRUE(store_.Head("out/a.json.noetag.json").ok());
}

TEST_F(ObjectBatchTest, AnAnswerAlreadyWrittenIsADuplicate) {
  ASSERT_TRUE(store_.Put("incoming/a.json", "[[1,2,3,4]]", PutOptions()).ok());
  ASSERT_TRUE(store_.Put("results/a.json.t1.json", "{}", PutOptions()).ok());
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"incoming/a.json", "e", "t1"}, {}, *core_, "t");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kDuplicate);
  EXPECT_EQ(store_.Get("results/a.json.t1.json").value(), "{}");  // not rewritten
}

TEST_F(ObjectBatchTest, AFailureThatCannotBeWrittenIsReportedLost) {
  FaultyStore faulty(&store_);
  faulty.FailAfter(0, Status(StatusCode::kUnavailable, "gone"));
  ObjectResult r =
      InferStoredObject(faulty, ObjectRef{"incoming/a.json", "e", "t1"}, {}, *core_, "t");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kFailed);
  EXPECT_FALSE(r.failure_recorded);
  ObjectBatchSummary summary;
  summary.Add("incoming/a.json", r);
  EXPECT_TRUE(summary.lost_failures());
}

TEST_F(ObjectBatchTest, AnImageForAModelWithoutImageInputsGetsItsFailureRecord) {
  ASSERT_TRUE(store_.Put("incoming/p.png", std::string("\x89PNG\r\n\x1a\n", 8), PutOptions()).ok());
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"incoming/p.png", "e", "t1"}, {}, *core_, "t");
  ASSERT_EQ(r.kind, ObjectResult::Kind::kFailed);
  EXPECT_TRUE(r.failure_recorded);
  auto doc = Json::Parse(store_.Get("failed/p.png.t1.error.json").value());
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("error")->Find("code")->AsString(), "unsupported_media_type");
}

TEST_F(ObjectBatchTest, AnObjectOverTheLimitIsRecordedWithoutBeingRead) {
  ASSERT_TRUE(store_.Put("incoming/big.json", "[[1,2,3,4]]", PutOptions()).ok());
  ObjectBatchConfig config;
  config.max_object_bytes = 10;  // the object holds 11
  FaultyStore counting(&store_);
  ObjectResult r =
      InferStoredObject(counting, ObjectRef{"incoming/big.json", "e", "t1"}, config, *core_, "t");
  ASSERT_EQ(r.kind, ObjectResult::Kind::kFailed);
  auto doc = Json::Parse(store_.Get("failed/big.json.t1.error.json").value());
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("error")->Find("code")->AsString(), "object_too_large");
  EXPECT_EQ(doc->Find("error")->Find("status")->AsDouble(), 413);
  // Never read: the answer's Head, the object's Head and the failure record's Put, no Get.
  EXPECT_EQ(counting.calls(), 3);
  config.max_object_bytes = 11;
  r = InferStoredObject(store_, ObjectRef{"incoming/big.json", "e", "t2"}, config, *core_, "t");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
}

TEST(ObjectBatchConfigTest, TheLimitComesFromTheEnvironment) {
  auto env = [](std::string value) {
    return [value](const std::string& name) -> std::optional<std::string> {
      if (name == "MODELFN_MAX_OBJECT_BYTES") return value;
      return std::nullopt;
    };
  };
  ObjectBatchConfig c;
  c.ReadLimitsFromEnv(env("1048576"));
  EXPECT_EQ(c.max_object_bytes, 1048576u);
  for (const char* bad : {"0", "-1", "12abc", "", "99999999999999"}) {
    ObjectBatchConfig d;
    d.ReadLimitsFromEnv(env(bad));
    EXPECT_EQ(d.max_object_bytes, 16u << 20) << bad;
  }
}

TEST_F(ObjectBatchTest, TheSummaryCountsEveryOutcome) {
  ObjectBatchSummary summary;
  ObjectResult processed;
  processed.kind = ObjectResult::Kind::kProcessed;
  processed.written = "results/a.json.1.json";
  ObjectResult duplicate;
  duplicate.kind = ObjectResult::Kind::kDuplicate;
  ObjectResult failed;
  failed.kind = ObjectResult::Kind::kFailed;
  failed.failure = "failed/b.json.1.error.json";
  failed.failure_recorded = true;
  summary.Add("incoming/a.json", processed);
  summary.Add("incoming/a.json", duplicate);
  summary.Add("other/c.json", ObjectResult());
  summary.Add("incoming/b.json", failed);
  summary.AddUnusable("a record without a key");
  EXPECT_FALSE(summary.lost_failures());
  EXPECT_EQ(summary.ToJson(),
            R"({"processed":1,"duplicates":1,"skipped":1,"written":["results/a.json.1.json"],)"
            R"("failed":[{"input":"incoming/b.json","failure":"failed/b.json.1.error.json"},)"
            R"({"input":"","failure":"a record without a key"}]})");
}

}  // namespace
}  // namespace modelfn
