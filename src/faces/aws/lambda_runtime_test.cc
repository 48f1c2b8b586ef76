#include "faces/aws/lambda_runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <deque>

#include "common/json.h"
#include "engine/ort_engine.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

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

// An S3 event whose object can be neither scored nor recorded (the bucket unreachable) fails
// the invocation, so that it is delivered again; a recorded outcome does not.
TEST_F(LambdaTest, AnUnreachableBucketFailsTheInvocationForARedelivery) {
  bool down = true;
  runtime_->EnableRecordEvents(
      ObjectEventConfig(), [&](const std::string&) -> StatusOr<std::unique_ptr<ObjectStore>> {
        auto store = std::make_unique<MemoryStore>();
        auto faulty = std::make_unique<FaultyStore>(store.get());
        if (down) faulty->FailAfter(0, Status(StatusCode::kUnavailable, "connection refused"));
        struct Owning : ObjectStore {
          std::unique_ptr<MemoryStore> base;
          std::unique_ptr<FaultyStore> f;
          StatusOr<std::string> Get(const std::string& k) override { return f->Get(k); }
          StatusOr<ObjectInfo> GetToFile(const std::string& k, const std::string& p,
                                         const ProgressFn& g) override {
            return f->GetToFile(k, p, g);
          }
          StatusOr<ObjectInfo> Head(const std::string& k) override { return f->Head(k); }
          StatusOr<ObjectInfo> Put(const std::string& k, std::string_view d,
                                   const PutOptions& o) override {
            return f->Put(k, d, o);
          }
          StatusOr<ObjectInfo> PutFile(const std::string& k, const std::string& p,
                                       const PutOptions& o) override {
            return f->PutFile(k, p, o);
          }
          StatusOr<std::vector<ObjectInfo>> List(const std::string& p) override {
            return f->List(p);
          }
          Status Delete(const std::string& k) override { return f->Delete(k); }
          std::string Describe() const override { return "mem"; }
        };
        auto o = std::make_unique<Owning>();
        o->base = std::move(store);
        o->f = std::move(faulty);
        return std::unique_ptr<ObjectStore>(std::move(o));
      });
  const char* event =
      R"({"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",)"
      R"("s3":{"bucket":{"name":"b"},"object":{"key":"incoming/a.jsonl","eTag":"e"}}}]})";
  auto r = runtime_->Invoke(event, "id", 0);
  EXPECT_EQ(r.error_type, "store_unavailable") << r.body;
  down = false;  // reachable: the object is missing, which is recorded as its failure
  r = runtime_->Invoke(event, "id", 0);
  EXPECT_TRUE(r.error_type.empty()) << r.body;
  EXPECT_EQ(Json::Parse(r.body)->Find("failed")->AsArray().size(), 1u);
}

TEST_F(LambdaTest, RequestIdComesFromLambda) {
  auto r = runtime_->Invoke(
      R"({"version":"2.0","rawPath":"/v1/health","requestContext":{"http":{"method":"GET"}},"headers":{}})",
      "aws-request-id-1", 0);
  auto resp = Json::Parse(r.body);
  EXPECT_EQ(resp->Find("headers")->Find("X-Request-Id")->AsString(), "aws-request-id-1");
}

// A Runtime API that hands out invocations with the given trace ids, then goes away.
class ScriptedRuntimeApi : public HttpClient {
 public:
  explicit ScriptedRuntimeApi(std::vector<std::string> traces)
      : traces_(traces.begin(), traces.end()) {}
  StatusOr<HttpReply> Send(const HttpCall& call) override {
    HttpReply r;
    r.status = 202;
    if (call.url.find("/invocation/next") == std::string::npos) return r;
    if (traces_.empty()) return UnavailableError("no more invocations");
    r.status = 200;
    r.headers = {{"lambda-runtime-aws-request-id", "id-" + std::to_string(++served_)}};
    if (!traces_.front().empty())
      r.headers.emplace_back("lambda-runtime-trace-id", traces_.front());
    traces_.pop_front();
    r.body = R"({"inputs":{"a":[[1,2,3]],"b":[[1,2,3]]}})";
    return r;
  }

 private:
  std::deque<std::string> traces_;
  int served_ = 0;
};

TEST_F(LambdaTest, TraceIdEnvironmentReusesItsStorage) {
  // Each value must be visible through getenv, and the strings must not pile up: a runtime that
  // allocates a new string per invocation hands out a new address every time.
  std::vector<const char*> seen;
  for (int i = 0; i < 6; ++i) {
    std::string trace = "Root=1-5759e988-bd862e3fe1be46a99427" + std::to_string(1000 + i);
    ScriptedRuntimeApi api({trace});
    LambdaRuntime rt("127.0.0.1:9", &api, core_.get(), "add2", &clock_, &log_);
    EXPECT_FALSE(rt.Run().ok());  // ends when the scripted API has nothing more
    const char* v = getenv("_X_AMZN_TRACE_ID");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(std::string(v), trace);
    seen.push_back(v);
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_LE(seen.size(), 2u);
}

TEST_F(LambdaTest, TraceIdIsUnsetWithoutHeaderOrWhenTooLong) {
  ScriptedRuntimeApi with({"Root=1-abc"});
  (void)LambdaRuntime("127.0.0.1:9", &with, core_.get(), "add2", &clock_, &log_).Run();
  ASSERT_NE(getenv("_X_AMZN_TRACE_ID"), nullptr);
  ScriptedRuntimeApi without({""});
  (void)LambdaRuntime("127.0.0.1:9", &without, core_.get(), "add2", &clock_, &log_).Run();
  EXPECT_EQ(getenv("_X_AMZN_TRACE_ID"), nullptr);
  ScriptedRuntimeApi huge({std::string(10000, 'x')});
  (void)LambdaRuntime("127.0.0.1:9", &huge, core_.get(), "add2", &clock_, &log_).Run();
  EXPECT_EQ(getenv("_X_AMZN_TRACE_ID"), nullptr);
}

}  // namespace
}  // namespace modelfn
