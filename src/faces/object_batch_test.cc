#include "faces/object_batch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/files.h"
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
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"in/a.json", "", "", ""}, config, *core_, "t");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
  EXPECT_EQ(r.written, "out/a.json.noetag.json");
  EXPECT_TRUE(store_.Head("out/a.json.noetag.json").ok());
}

TEST_F(ObjectBatchTest, AnAnswerAlreadyWrittenIsADuplicate) {
  ASSERT_TRUE(store_.Put("incoming/a.json", "[[1,2,3,4]]", PutOptions()).ok());
  ASSERT_TRUE(store_.Put("results/a.json.t1.json", "{}", PutOptions()).ok());
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"incoming/a.json", "e", "t1", ""}, {}, *core_, "t");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kDuplicate);
  EXPECT_EQ(store_.Get("results/a.json.t1.json").value(), "{}");  // not rewritten
}

TEST_F(ObjectBatchTest, AFailureThatCannotBeWrittenIsReportedLost) {
  FaultyStore faulty(&store_);
  faulty.FailAfter(0, Status(StatusCode::kUnavailable, "gone"));
  ObjectResult r =
      InferStoredObject(faulty, ObjectRef{"incoming/a.json", "e", "t1", ""}, {}, *core_, "t");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kFailed);
  EXPECT_FALSE(r.failure_recorded);
  ObjectBatchSummary summary;
  summary.Add("incoming/a.json", r);
  EXPECT_TRUE(summary.lost_failures());
}

TEST_F(ObjectBatchTest, AnImageForAModelWithoutImageInputsGetsItsFailureRecord) {
  ASSERT_TRUE(store_.Put("incoming/p.png", std::string("\x89PNG\r\n\x1a\n", 8), PutOptions()).ok());
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"incoming/p.png", "e", "t1", ""}, {}, *core_, "t");
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
  ObjectResult r = InferStoredObject(counting, ObjectRef{"incoming/big.json", "e", "t1", ""},
                                     config, *core_, "t");
  ASSERT_EQ(r.kind, ObjectResult::Kind::kFailed);
  auto doc = Json::Parse(store_.Get("failed/big.json.t1.error.json").value());
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("error")->Find("code")->AsString(), "object_too_large");
  EXPECT_EQ(doc->Find("error")->Find("status")->AsDouble(), 413);
  // Never read: the answer's Head, the object's Head and the failure record's Put, no Get.
  EXPECT_EQ(counting.calls(), 3);
  config.max_object_bytes = 11;
  r = InferStoredObject(store_, ObjectRef{"incoming/big.json", "e", "t2", ""}, config, *core_, "t");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
}

// Rows that the model refuses (not four values) fail alone: the others are answered in the
// output, the failures listed in the failure record, written first.
TEST_F(ObjectBatchTest, RowsObjectsKeepTheRowsThatWorked) {
  ObjectBatchConfig config;
  config.chunk_rows = 2;  // rows answered across chunks keep their order
  ASSERT_TRUE(
      store_.Put("incoming/a.csv", "a,b,c,d\n1,2,3,4\n1,2,3\n5,6,7,8\n9,x,1,1\n", PutOptions())
          .ok());
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"incoming/a.csv", "e", "t", ""}, config, *core_, "req");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
  EXPECT_EQ(r.written, "results/a.csv.t.csv");
  EXPECT_EQ(r.rows, 4);
  EXPECT_EQ(r.rows_failed, 2);
  std::string csv = store_.Get("results/a.csv.t.csv").value();
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "row,\"y_0\",\"y_1\",\"y_2\",\"y_3\",error_code,error_detail");
  EXPECT_NE(csv.find("\n0,1,2,3,4,,\"\"\n1,,,,,invalid_request,\"record 3 has 3 fields"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\n2,5,6,7,8,,\"\"\n3,,,,,invalid_request,"), std::string::npos) << csv;
  auto failure = Json::Parse(store_.Get("failed/a.csv.t.error.json").value());
  ASSERT_TRUE(failure.ok());
  EXPECT_EQ(failure->Find("error")->Find("code")->AsString(), "rows_failed");
  EXPECT_EQ(failure->Find("error")->Find("status")->AsInt64(), 422);
  EXPECT_EQ(failure->Find("rows_failed")->AsInt64(), 2);
  EXPECT_EQ(failure->Find("output")->AsString(), "results/a.csv.t.csv");
  ASSERT_EQ(failure->Find("failed_rows")->AsArray().size(), 2u);
  EXPECT_EQ(failure->Find("failed_rows")->AsArray()[1].Find("row")->AsInt64(), 3);
  // Delivered again: a duplicate, nothing rewritten.
  ASSERT_TRUE(store_.Put("incoming/b.jsonl", "[1,2,3,4]\n", PutOptions()).ok());
  EXPECT_EQ(
      InferStoredObject(store_, ObjectRef{"incoming/a.csv", "e", "t", ""}, config, *core_, "r")
          .kind,
      ObjectResult::Kind::kDuplicate);
  // Every row failing: no output, only the record.
  ASSERT_TRUE(store_.Put("incoming/c.jsonl", "[1]\n[2]\n", PutOptions()).ok());
  r = InferStoredObject(store_, ObjectRef{"incoming/c.jsonl", "e", "t", ""}, config, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kFailed);
  EXPECT_TRUE(r.failure_recorded);
  EXPECT_FALSE(store_.Head("results/c.jsonl.t.jsonl").ok());
  EXPECT_EQ(Json::Parse(store_.Get("failed/c.jsonl.t.error.json").value())
                ->Find("error")
                ->Find("code")
                ->AsString(),
            "rows_failed");
}

// A rows object is streamed through a temporary folder that is gone afterwards, and an object
// over its own limit is refused unread.
TEST_F(ObjectBatchTest, RowsObjectsLeaveNoScratchAndHaveTheirOwnLimit) {
  char dir[] = "/tmp/scratch-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  ObjectBatchConfig config;
  config.scratch_dir = dir;
  config.max_object_bytes = 4;  // not the limit of rows objects
  ASSERT_TRUE(store_.Put("incoming/a.jsonl", "[1,2,3,4]\n[4,3,2,1]\n", PutOptions()).ok());
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"incoming/a.jsonl", "e", "t", ""}, config, *core_, "r");
  ASSERT_EQ(r.kind, ObjectResult::Kind::kProcessed) << r.failure;
  EXPECT_EQ(
      store_.Get("results/a.jsonl.t.jsonl").value(),
      "{\"row\":0,\"outputs\":{\"y\":[1,2,3,4]}}\n{\"row\":1,\"outputs\":{\"y\":[4,3,2,1]}}\n");
  EXPECT_EQ(rmdir(dir), 0) << "the scratch folder is not empty";
  config.scratch_dir = "/tmp";
  config.max_rows_object_bytes = 10;
  r = InferStoredObject(store_, ObjectRef{"incoming/a.jsonl", "e", "u", ""}, config, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kFailed);
  EXPECT_EQ(Json::Parse(store_.Get("failed/a.jsonl.u.error.json").value())
                ->Find("error")
                ->Find("code")
                ->AsString(),
            "object_too_large");
}

// An event about a version the object no longer has is not scored under that version's name.
TEST_F(ObjectBatchTest, ARowsObjectReplacedSinceItsEventIsSuperseded) {
  auto v1 = store_.Put("incoming/a.jsonl", "[1,2,3,4]\n", PutOptions());
  ASSERT_TRUE(v1.ok());
  auto v2 = store_.Put("incoming/a.jsonl", "[1,2,3,4]\n[4,3,2,1]\n", PutOptions());
  ASSERT_TRUE(v2.ok());
  ASSERT_NE(v1->etag, v2->etag);
  ObjectRef old{"incoming/a.jsonl", v1->etag, "t1", "\"" + v1->etag + "\""};
  ObjectResult r = InferStoredObject(store_, old, {}, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kSuperseded);
  EXPECT_FALSE(store_.Head("results/a.jsonl.t1.jsonl").ok());
  EXPECT_FALSE(store_.Head("failed/a.jsonl.t1.error.json").ok());
  ObjectRef now{"incoming/a.jsonl", v2->etag, "t2", v2->etag};
  r = InferStoredObject(store_, now, {}, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
  EXPECT_EQ(r.rows, 2);
}

// A failure record tells the latest delivery's outcome: a clean result removes an older one.
TEST_F(ObjectBatchTest, AFailureRecordIsReplacedByALaterOutcome) {
  ASSERT_TRUE(store_.Put("failed/a.jsonl.t.error.json", "{\"stale\":true}", PutOptions()).ok());
  ASSERT_TRUE(store_.Put("incoming/a.jsonl", "[1,2,3,4]\n", PutOptions()).ok());
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"incoming/a.jsonl", "e", "t", ""}, {}, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
  EXPECT_FALSE(store_.Head("failed/a.jsonl.t.error.json").ok());
  ASSERT_TRUE(store_.Put("failed/b.jsonl.t.error.json", "{\"stale\":true}", PutOptions()).ok());
  ASSERT_TRUE(store_.Put("incoming/b.jsonl", "[1]\n", PutOptions()).ok());
  r = InferStoredObject(store_, ObjectRef{"incoming/b.jsonl", "e", "t", ""}, {}, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kFailed);
  EXPECT_NE(store_.Get("failed/b.jsonl.t.error.json").value().find("rows_failed"),
            std::string::npos);
}

// The store unreachable while reading: no failure record (not the object's fault), and the
// face is told to have the event delivered again.
TEST_F(ObjectBatchTest, AnUnreachableStoreAsksForTheEventAgain) {
  ASSERT_TRUE(store_.Put("incoming/a.jsonl", "[1,2,3,4]\n", PutOptions()).ok());
  FaultyStore faulty(&store_);
  faulty.FailAfter(1, Status(StatusCode::kUnavailable, "connection refused"));  // Head passes
  ObjectResult r =
      InferStoredObject(faulty, ObjectRef{"incoming/a.jsonl", "e", "t", ""}, {}, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kFailed);
  EXPECT_FALSE(r.failure_recorded);
  faulty.Heal();
  EXPECT_FALSE(store_.Head("failed/a.jsonl.t.error.json").ok());
  r = InferStoredObject(faulty, ObjectRef{"incoming/a.jsonl", "e", "t", ""}, {}, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
}

// A scratch folder left by a killed process (its lock free) is removed by the next object; one
// in use by another process (its lock held) is not.
TEST_F(ObjectBatchTest, AbandonedScratchFoldersAreRemovedAndLiveOnesKept) {
  char dir[] = "/tmp/scratch-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string base = dir;
  ASSERT_EQ(mkdir((base + "/modelfn-rows-dead01").c_str(), 0700), 0);
  ASSERT_TRUE(WriteFileAtomic(base + "/modelfn-rows-dead01/.lock", "").ok());
  ASSERT_TRUE(WriteFileAtomic(base + "/modelfn-rows-dead01/input", "big").ok());
  ASSERT_EQ(mkdir((base + "/modelfn-rows-live01").c_str(), 0700), 0);
  ASSERT_TRUE(WriteFileAtomic(base + "/modelfn-rows-live01/.lock", "").ok());
  // Held by another open file description, as another process would hold it.
  int held = open((base + "/modelfn-rows-live01/.lock").c_str(), O_RDWR);
  ASSERT_EQ(flock(held, LOCK_EX | LOCK_NB), 0);
  ObjectBatchConfig config;
  config.scratch_dir = base;
  ASSERT_TRUE(store_.Put("incoming/a.jsonl", "[1,2,3,4]\n", PutOptions()).ok());
  ObjectResult r =
      InferStoredObject(store_, ObjectRef{"incoming/a.jsonl", "e", "t", ""}, config, *core_, "r");
  EXPECT_EQ(r.kind, ObjectResult::Kind::kProcessed);
  EXPECT_NE(access((base + "/modelfn-rows-dead01").c_str(), F_OK), 0);
  EXPECT_EQ(access((base + "/modelfn-rows-live01/.lock").c_str(), F_OK), 0);
  close(held);
  (void)system(("rm -rf " + base).c_str());
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
  processed.rows = 10;
  processed.rows_failed = 2;
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
            R"({"processed":1,"duplicates":1,"skipped":1,"superseded":0,"rows":10,"rows_failed":2,)"
            R"("written":["results/a.json.1.json"],)"
            R"("failed":[{"input":"incoming/b.json","failure":"failed/b.json.1.error.json"},)"
            R"({"input":"","failure":"a record without a key"}]})");
}

}  // namespace
}  // namespace modelfn
