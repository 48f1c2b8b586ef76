#include "faces/azure/azure_handler.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/json.h"
#include "engine/ort_engine.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace modelfn {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(MODELFN_SOURCE_DIR) + "/tests/fixtures/azure/" + name);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The "fails" test model: y = x for four values, a model error otherwise. Containers are one
// in-memory store; the opener fails for a container named "down".
class AzureHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = OrtEngine::Load(std::string(MODELFN_SOURCE_DIR) + "/tests/models/fails/model.onnx",
                             OrtEngineOptions());
    ASSERT_TRUE(e.ok());
    core_ = std::make_unique<FunctionCore>(std::move(e).value(), FunctionIdentity{"fails", "1"},
                                           InferenceLimits(), &clock_, &log_);
    core_->SetReady(InitTimings());
  }
  AzureHandler Handler(AzureFaceConfig config = AzureFaceConfig()) {
    return AzureHandler(
        core_.get(), "fails", std::move(config),
        [this](const std::string& container) -> StatusOr<std::unique_ptr<ObjectStore>> {
          opened_.push_back(container);
          if (container == "down") return Status(StatusCode::kUnavailable, "no route");
          return std::unique_ptr<ObjectStore>(std::make_unique<FaultyStore>(&store_));
        },
        &log_);
  }
  static Json Body(const Outcome& o) {
    auto doc = Json::Parse(o.body);
    EXPECT_TRUE(doc.ok()) << o.body;
    return doc.ok() ? std::move(doc).value() : Json();
  }
  FakeClock clock_;
  EventLog log_{-1, &clock_};
  std::unique_ptr<FunctionCore> core_;
  MemoryStore store_;
  std::vector<std::string> opened_;
};

TEST_F(AzureHandlerTest, ABlobIsInferredOnceAndItsAnswerWrittenBesideIt) {
  ASSERT_TRUE(store_.Put("incoming/rows.json", "[[1,2,3,4]]", PutOptions()).ok());
  AzureHandler h = Handler();
  Outcome o = h.Invoke("BlobInfer", Fixture("blob_request.json"));
  ASSERT_EQ(o.status, 200) << o.body;
  Json reply = Body(o);
  auto summary = Json::Parse(reply.Find("ReturnValue")->AsString());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->Find("processed")->AsInt64(), 1);
  EXPECT_EQ(opened_, std::vector<std::string>{"samples-workitems"});
  auto written = store_.Get("results/rows.json.0x8DCB1A2B3C4D5E6.json");
  ASSERT_TRUE(written.ok());
  EXPECT_NE(written->find("outputs"), std::string::npos) << *written;
  EXPECT_EQ(reply.Find("Logs")->AsArray()[0].AsString(),
            "wrote results/rows.json.0x8DCB1A2B3C4D5E6.json");
  // Redelivered: found answered, not written again.
  Outcome again = h.Invoke("BlobInfer", Fixture("blob_request.json"));
  ASSERT_EQ(again.status, 200);
  auto summary2 = Json::Parse(Body(again).Find("ReturnValue")->AsString());
  EXPECT_EQ(summary2->Find("duplicates")->AsInt64(), 1);
}

TEST_F(AzureHandlerTest, ABlobThatIsGoneIsRecordedAsAFailure) {
  Outcome o = Handler().Invoke("BlobInfer", Fixture("blob_request.json"));
  ASSERT_EQ(o.status, 200) << o.body;
  auto summary = Json::Parse(Body(o).Find("ReturnValue")->AsString());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->Find("failed")->AsArray().size(), 1u);
  auto record = store_.Get("failed/rows.json.0x8DCB1A2B3C4D5E6.error.json");
  ASSERT_TRUE(record.ok());
  EXPECT_NE(record->find("incoming/rows.json"), std::string::npos);
}

TEST_F(AzureHandlerTest, AContainerThatCannotBeOpenedAsksForARetry) {
  std::string body = Fixture("blob_request.json");
  size_t at = body.find("samples-workitems/");
  body.replace(at, 17, "down");
  Outcome o = Handler().Invoke("BlobInfer", body);
  EXPECT_EQ(o.status, 503);
  EXPECT_EQ(Body(o).Find("code")->AsString(), "store_unavailable");
}

TEST_F(AzureHandlerTest, ABlobOutsideTheInputPrefixIsSkipped) {
  std::string body = Fixture("blob_request.json");
  size_t at = body.find("\"samples-workitems/incoming/");
  body.replace(at + 19, 9, "other/");
  Outcome o = Handler().Invoke("BlobInfer", body);
  ASSERT_EQ(o.status, 200) << o.body;
  auto summary = Json::Parse(Body(o).Find("ReturnValue")->AsString());
  EXPECT_EQ(summary->Find("skipped")->AsInt64(), 1);
  EXPECT_TRUE(opened_.empty());
}

TEST_F(AzureHandlerTest, AQueueMessageIsARequest) {
  AzureFaceConfig config;
  config.output_binding = "results";
  Outcome o = Handler(config).Invoke(
      "QueueInfer",
      R"({"Data": {"item": "{\"inputs\": [[1, 2, 3, 4]]}"}, "Metadata": {"Id": "m1"}})");
  ASSERT_EQ(o.status, 200) << o.body;
  Json reply = Body(o);
  auto answer = Json::Parse(reply.Find("ReturnValue")->AsString());
  ASSERT_TRUE(answer.ok());
  EXPECT_NE(answer->Find("outputs"), nullptr) << reply.Find("ReturnValue")->AsString();
  EXPECT_EQ(reply.Find("Outputs")->Find("results")->AsString(),
            reply.Find("ReturnValue")->AsString());
}

// The documented queue message is not JSON: the model's refusal is the result, with a log line.
TEST_F(AzureHandlerTest, TheDocumentedQueueMessageIsRefusedAndRecorded) {
  Outcome o = Handler().Invoke("MyQueueFunction", Fixture("queue_request.json"));
  ASSERT_EQ(o.status, 200) << o.body;
  Json reply = Body(o);
  auto problem = Json::Parse(reply.Find("ReturnValue")->AsString());
  ASSERT_TRUE(problem.ok());
  EXPECT_EQ(problem->Find("code")->AsString(), "invalid_json");
  EXPECT_EQ(reply.Find("Logs")->AsArray()[0].AsString(),
            "message 800ae4b3-bdd2-4c08-badd-f08e5a34b865 refused: 400 invalid_json");
}

TEST_F(AzureHandlerTest, AModelErrorIsReturnedSoTheHostRetries) {
  Outcome o = Handler().Invoke("QueueInfer", R"({"Data": {"item": "{\"inputs\": [[1, 2, 3]]}"}})");
  EXPECT_EQ(o.status, 500);
  EXPECT_EQ(Body(o).Find("code")->AsString(), "model_error");
}

TEST_F(AzureHandlerTest, AnHttpTriggerWithBindingsAnswersInItsOutput) {
  auto doc = Json::Parse(Fixture("http_order_request.json"));
  ASSERT_TRUE(doc.ok());
  for (auto& [k, data] : doc->MutableObject()) {
    if (k != "Data") continue;
    for (auto& [name, req] : data.MutableObject()) {
      req.Set("Url", Json::String("http://localhost:7071/api/infer"));
      req.Set("Body", Json::String("{\"inputs\":[[1,2,3,4]]}"));
    }
  }
  std::string body = doc->Dump();
  Outcome o = Handler().Invoke("order", body);
  ASSERT_EQ(o.status, 200) << o.body;
  Json reply = Body(o);
  const Json* res = reply.Find("Outputs")->Find("res");
  ASSERT_NE(res, nullptr) << o.body;
  EXPECT_EQ(res->Find("statusCode")->AsInt64(), 200) << o.body;
  EXPECT_NE(res->Find("body")->AsString().find("outputs"), std::string::npos);
  // The documented order (not a model input) gets the core's answer, in the same place.
  Outcome order = Handler().Invoke("order", Fixture("http_order_request.json"));
  ASSERT_EQ(order.status, 200);
  EXPECT_EQ(Body(order).Find("Outputs")->Find("res")->Find("statusCode")->AsInt64(), 404);
}

TEST_F(AzureHandlerTest, BadPayloadsAreProblems) {
  AzureHandler h = Handler();
  Outcome missing = h.Invoke("f", R"({"Metadata": {}})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.content_type, "application/problem+json");
  EXPECT_EQ(Body(missing).Find("code")->AsString(), "invalid_invocation");
  EXPECT_EQ(Body(h.Invoke("f", "not json")).Find("code")->AsString(), "invalid_json");
  EXPECT_EQ(Body(h.Invoke("f", R"({"Data": {"a": "1", "b": "2"}})")).Find("code")->AsString(),
            "unsupported_trigger");
  Outcome blob = h.Invoke("f", R"({"Data": {"b": ""}, "Metadata": {"BlobTrigger": 1}})");
  EXPECT_EQ(blob.status, 400);
  EXPECT_TRUE(opened_.empty());
}

}  // namespace
}  // namespace modelfn
