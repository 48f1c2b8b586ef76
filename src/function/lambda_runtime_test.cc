#include "function/lambda_runtime.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "engine/ort_engine.h"

namespace modelfn {
namespace {

class LambdaTest : public testing::Test {
 protected:
  void SetUp() override {
    auto e = OrtEngine::Load(std::string(MODELFN_SOURCE_DIR) + "/tests/models/add2/model.onnx",
                             OrtEngineOptions());
    ASSERT_TRUE(e.ok());
    core_ = std::make_unique<FunctionCore>(std::move(e).value(), FunctionIdentity{"add2", "1"},
                                           InferenceLimits(), &clock_, &log_);
    core_->SetReady(InitTimings());
    runtime_ = std::make_unique<LambdaRuntime>("127.0.0.1:9", nullptr, core_.get(), "add2", &clock_,
                                               &log_);
  }
  FakeClock clock_{1'800'000'000'000'000'000};
  EventLog log_{-1, &clock_};
  std::unique_ptr<FunctionCore> core_;
  std::unique_ptr<LambdaRuntime> runtime_;
};

TEST_F(LambdaTest, DeadlineAlreadyPassedIsATypedTimeout) {
  int64_t now_ms = clock_.WallNanos() / 1'000'000;
  auto r = runtime_->Invoke(R"({"inputs":{"a":[[1,2,3]],"b":[[1,2,3]]}})", "id", now_ms - 5);
  EXPECT_EQ(r.error_type, "timeout");
  auto http = runtime_->Invoke(
      R"({"version":"2.0","rawPath":"/v1/infer","requestContext":{"http":{"method":"POST"}},"body":"{}"})",
      "id", now_ms - 5);
  auto resp = Json::Parse(http.body);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->Find("statusCode")->AsInt64(), 504);
  auto ok = runtime_->Invoke(R"({"inputs":{"a":[[1,2,3]],"b":[[1,2,3]]}})", "id", now_ms + 3000);
  EXPECT_TRUE(ok.error_type.empty()) << ok.body;
  EXPECT_EQ(Json::Parse(ok.body)->Find("outputs")->Find("sum")->Dump(), "[[2,4,6]]");
}

TEST_F(LambdaTest, RequestIdComesFromLambda) {
  auto r = runtime_->Invoke(
      R"({"version":"2.0","rawPath":"/v1/health","requestContext":{"http":{"method":"GET"}},"headers":{}})",
      "aws-request-id-1", 0);
  auto resp = Json::Parse(r.body);
  EXPECT_EQ(resp->Find("headers")->Find("X-Request-Id")->AsString(), "aws-request-id-1");
}

}  // namespace
}  // namespace modelfn
