#include "function/function_core.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <limits>
#include <mutex>

#include "engine/fake_engine.h"
#include "engine/ort_engine.h"
#include "function/model_loader.h"

namespace modelfn {
namespace {

std::string Src(const std::string& rel) { return std::string(MODELFN_SOURCE_DIR) + "/" + rel; }

class CoreTest : public testing::Test {
 protected:
  void Use(const std::string& model, const std::string& name) {
    auto e = OrtEngine::Load(Src(model), OrtEngineOptions());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    UseEngine(std::move(e).value(), name);
  }
  void UseEngine(std::unique_ptr<Engine> e, const std::string& name) {
    core_ = std::make_unique<FunctionCore>(std::move(e), FunctionIdentity{name, "1"},
                                           InferenceLimits(), &clock_, &log_);
    core_->SetReady(InitTimings());
  }
  // Loads a model folder as modelfn-fn does (manifest checks, batching decided from its ops).
  void UseDir(const std::string& dir, const std::string& name) {
    auto m = LoadModelDir(
        Src(dir),
        [](const std::string& p, std::string_view b) -> StatusOr<std::unique_ptr<Engine>> {
          ASSIGN_OR_RETURN(auto e, OrtEngine::LoadFromBytes(b, p, OrtEngineOptions()));
          return std::unique_ptr<Engine>(std::move(e));
        },
        clock_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    UseEngine(std::move(m->engine), name);
  }
  static std::string Header(const Outcome& o, const std::string& name) {
    for (const auto& [k, v] : o.headers) {
      if (k == name) return v;
    }
    return "";
  }
  Outcome Call(std::string_view method, std::string_view path, std::string_view body = "",
               const std::string* ct = nullptr, const std::string* ihcl = nullptr) {
    Invocation inv;
    inv.method = method;
    inv.path = path;
    inv.body = body;
    inv.content_type = ct;
    inv.inference_header_length = ihcl;
    return core_->Handle(inv);
  }
  static std::string Code(const Outcome& o) {
    auto j = Json::Parse(o.body);
    if (!j.ok() || !j->Find("code")) return "";
    return j->Find("code")->AsString();
  }

  FakeClock clock_;
  EventLog log_{-1, &clock_};
  std::unique_ptr<FunctionCore> core_;
};

TEST_F(CoreTest, NamedInputsAndOutputSelection) {
  Use("tests/models/add2/model.onnx", "add2");
  Outcome o = Call("POST", "/v1/infer", R"({"inputs":{"a":[[1,2,3]],"b":[[3,2,1]]}})");
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_EQ(o.body, R"({"model":"add2","version":"1","outputs":{"sum":[[4,4,4]],"count":[1]}})");
  o = Call("POST", "/v1/infer", R"({"inputs":{"a":[[1,2,3]],"b":[[3,2,1]]},"outputs":["count"]})");
  EXPECT_EQ(o.body, R"({"model":"add2","version":"1","outputs":{"count":[1]}})");
}

// Lambda-Runtime-Deadline-Ms is whatever the Runtime API sends: a deadline centuries away must
// neither overflow the arithmetic of the run's stop time (UBSan halts on it) nor stop the run.
TEST_F(CoreTest, FarDeadlinesRunNormally) {
  Use("tests/models/add2/model.onnx", "add2");
  for (int64_t deadline : {int64_t{99999999999999}, std::numeric_limits<int64_t>::max()}) {
    Invocation inv;
    inv.method = "POST";
    inv.path = "/v1/infer";
    inv.body = R"({"inputs":{"a":[[1,2,3]],"b":[[3,2,1]]}})";
    inv.deadline_wall_ms = deadline;
    Outcome o = core_->Handle(inv);
    EXPECT_EQ(o.status, 200) << deadline << " " << o.body;
  }
}

// The time left is read from the core's clock, but the engine's deadline is on the real
// monotonic clock: a fake clock whose monotonic time lags the machine's (1 s here, against the
// machine's uptime) must not turn a deadline seconds away into one already passed.
TEST_F(CoreTest, DeadlineIsSetOnTheEnginesClockNotTheCoresOwn) {
  // The work model runs `loops` 256x256 MatMuls: 200 take long enough (tens of milliseconds) for a
  // deadline wrongly already passed to stop the run.
  Use("tests/models/work/model.onnx", "work");
  Invocation inv;
  inv.method = "POST";
  inv.path = "/v1/infer";
  inv.body = R"({"inputs":{"x":[[1,2,3,4]],"loops":[200],"alloc":[1,1]},"outputs":["y"]})";
  inv.deadline_wall_ms = clock_.WallNanos() / 1'000'000 + 600'000;  // 10 min from the core's now
  Outcome o = core_->Handle(inv);
  EXPECT_EQ(o.status, 200) << o.body;
  // The same deadline already passed on the core's clock stops the run with a typed timeout.
  clock_.Advance(601'000'000'000);
  inv.body = R"({"inputs":{"x":[[1,2,3,4]],"loops":[50000000],"alloc":[1,1]},"outputs":["y"]})";
  o = core_->Handle(inv);
  EXPECT_EQ(o.status, 504) << o.body;
  EXPECT_EQ(Code(o), "timeout") << o.body;
}

TEST_F(CoreTest, BadInputsGetTypedProblems) {
  Use("tests/models/add2/model.onnx", "add2");
  std::string form = "application/x-www-form-urlencoded";
  struct Case {
    const char* body;
    int status;
    const char* code;
  } cases[] = {
      {"", 400, "invalid_request"},
      {"{\"inputs\":", 400, "invalid_json"},
      {"[1]", 400, "invalid_request"},
      {R"({"inputs":[[1,2,3]]})", 400, "invalid_request"},  // two-input model needs names
      {R"({"inputs":{"a":[[1,2,3]]}})", 400, "missing_input"},
      {R"({"inputs":{"a":[[1,2,3]],"b":[[1,2,3]],"c":[1]}})", 400, "unknown_input"},
      {R"({"inputs":{"a":[[1,2,"x"]],"b":[[1,2,3]]}})", 400, "dtype_mismatch"},
      {R"({"inputs":{"a":[[1,2]],"b":[[1,2]]}})", 400, "shape_mismatch"},
      {R"({"inputs":{"a":[1,2,3],"b":[[1,2,3]]}})", 400, "shape_mismatch"},
      {R"({"inputs":{"a":[[1,2,3],[1,2]],"b":[[1,2,3]]}})", 400, "shape_mismatch"},
      {R"({"inputs":{"a":[[1,2,3]],"b":[[1,2,3]]},"outputs":["nope"]})", 400, "unknown_output"},
      {R"({"model":"other","inputs":{"a":[[1,2,3]],"b":[[1,2,3]]}})", 404, "not_found"},
  };
  for (const Case& c : cases) {
    Outcome o = Call("POST", "/v1/infer", c.body);
    EXPECT_EQ(o.status, c.status) << c.body << " -> " << o.body;
    EXPECT_EQ(o.content_type, "application/problem+json") << c.body;
    EXPECT_EQ(Code(o), c.code) << c.body << " -> " << o.body;
  }
  EXPECT_EQ(Code(Call("POST", "/v1/infer", "{}", &form)), "unsupported_media_type");
  EXPECT_EQ(Call("GET", "/v1/infer").status, 405);
  EXPECT_EQ(Call("GET", "/nope").status, 404);
  // Still serving afterwards.
  EXPECT_EQ(Call("POST", "/v1/infer", R"({"inputs":{"a":[[1,2,3]],"b":[[3,2,1]]}})").status, 200);
}

TEST_F(CoreTest, ModelFailureIs500AndServingContinues) {
  Use("tests/models/fails/model.onnx", "fails");
  Outcome o = Call("POST", "/v1/infer", R"({"inputs":[[1,2,3]]})");
  EXPECT_EQ(o.status, 500);
  EXPECT_EQ(Code(o), "model_error");
  o = Call("POST", "/v1/infer", R"({"inputs":[[1,2,3,4]]})");
  EXPECT_EQ(o.status, 200) << o.body;
}

TEST_F(CoreTest, BatchRunsCompatibleItemsTogetherAndIsolatesBadOnes) {
  Use("tests/models/add2/model.onnx", "add2");
  Outcome o = Call("POST", "/v1/batch", R"({"items":[
      {"inputs":{"a":[[1,1,1]],"b":[[0,0,0]]}},
      {"inputs":{"a":[[1,2]],"b":[[0,0]]}},
      {"inputs":{"a":[[2,2,2],[3,3,3]],"b":[[5,0,5],[0,0,0]]}},
      {"inputs":{"a":[[1,2,3]]}}]})");
  ASSERT_EQ(o.status, 200) << o.body;
  auto j = Json::Parse(o.body);
  ASSERT_TRUE(j.ok());
  const auto& r = j->Find("results")->AsArray();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].Find("outputs")->Find("count")->Dump(), "[3]");
  EXPECT_EQ(r[1].Find("error")->Find("code")->AsString(), "shape_mismatch");
  EXPECT_EQ(r[2].Find("outputs")->Find("sum")->Dump(), "[[7,2,7],[3,3,3]]");
  EXPECT_EQ(r[2].Find("outputs")->Find("count")->Dump(), "[1,3]");
  EXPECT_EQ(r[3].Find("error")->Find("code")->AsString(), "missing_input");
  bool one_call = false;
  for (const auto& [k, v] : o.headers) one_call |= k == "X-Batch-Engine-Calls" && v == "1";
  EXPECT_TRUE(one_call);
}

TEST_F(CoreTest, BatchFallsBackPerItemWhenTheBatchedRunFails) {
  Use("tests/models/fails/model.onnx", "fails");
  // Rows of 2 values: a batch of 3 rows (6 values) fails, but each 2-row item alone works.
  Outcome o =
      Call("POST", "/v1/batch",
           R"({"items":[{"inputs":[[1,2],[3,4]]},{"inputs":[[1,2]]},{"inputs":[[5,6],[7,8]]}]})");
  auto j = Json::Parse(o.body);
  const auto& r = j->Find("results")->AsArray();
  EXPECT_TRUE(r[0].Find("outputs") != nullptr) << o.body;
  EXPECT_EQ(r[1].Find("error")->Find("code")->AsString(), "model_error");
  EXPECT_TRUE(r[2].Find("outputs") != nullptr);
}

TEST_F(CoreTest, HealthProbesDoNotTakeTheColdStart) {
  Use("tests/models/add2/model.onnx", "add2");
  auto served = [&] {
    auto j = Json::Parse(Call("GET", "/v1/health").body);
    return j->Find("cold_start")->Find("first_request_served")->AsBool();
  };
  for (const char* probe : {"/v1/health", "/v2/health/ready", "/v2/health/live", "/metrics",
                            "/v1/models", "/v2/models/add2/ready"}) {
    EXPECT_EQ(Call("GET", probe).status, 200) << probe;
  }
  EXPECT_FALSE(served());
  EXPECT_NE(Call("GET", "/metrics").body.find("modelfn_cold_starts_total 0"), std::string::npos);
  ASSERT_EQ(Call("POST", "/v1/infer", R"({"inputs":{"a":[[1,2,3]],"b":[[3,2,1]]}})").status, 200);
  EXPECT_TRUE(served());
}

TEST_F(CoreTest, InputsSharingADimensionMustAgree) {
  Use("tests/models/embed/model.onnx", "embed");
  Outcome o = Call("POST", "/v1/infer", R"({"inputs":{"ids":[[1,2,3]],"mask":[[1,1]]}})");
  EXPECT_EQ(o.status, 400) << o.body;
  EXPECT_EQ(Code(o), "shape_mismatch");
  EXPECT_NE(o.body.find("share dimension 'S'"), std::string::npos) << o.body;
  std::string v2 = R"({"inputs":[{"name":"ids","datatype":"INT64","shape":[1,3],"data":[1,2,3]},
      {"name":"mask","datatype":"INT64","shape":[2,3],"data":[1,1,1,1,1,1]}]})";
  o = Call("POST", "/v2/models/embed/infer", v2);
  EXPECT_EQ(o.status, 400) << o.body;
  EXPECT_EQ(Code(o), "shape_mismatch");
  EXPECT_NE(o.body.find("'N'"), std::string::npos) << o.body;
}

TEST_F(CoreTest, TokenPastTheVocabularyIsTheClientsError) {
  Use("tests/models/embed/model.onnx", "embed");
  Outcome o = Call("POST", "/v1/infer", R"({"inputs":{"ids":[[1,12]],"mask":[[1,1]]}})");
  EXPECT_EQ(o.status, 400) << o.body;
  EXPECT_EQ(Code(o), "invalid_input");
  o = Call("POST", "/v1/infer", R"({"inputs":{"ids":[[1,9]],"mask":[[1,1]]}})");
  EXPECT_EQ(o.status, 200) << o.body;
}

TEST_F(CoreTest, DeclaredInputLimitsAreCheckedBeforeTheRun) {
  auto e = OrtEngine::Load(Src("tests/models/embed/model.onnx"), OrtEngineOptions());
  ASSERT_TRUE(e.ok());
  InputLimits ids{"ids", {-1, 8}, true, 0, 9};
  InputLimits mask{"mask", {4, 8}, false, 0, 0};
  (*e)->set_input_limits({ids, mask});
  UseEngine(std::move(e).value(), "embed");
  Outcome o = Call("POST", "/v1/infer", R"({"inputs":{"ids":[[1,2,10]],"mask":[[1,1,1]]}})");
  EXPECT_EQ(o.status, 400) << o.body;
  EXPECT_EQ(Code(o), "invalid_input");
  EXPECT_NE(o.body.find("holds 10 at flat index 2, outside the model's range [0, 9]"),
            std::string::npos)
      << o.body;
  std::string nine = "[[0,1,2,3,4,5,6,7,8]]";
  o = Call("POST", "/v1/infer", R"({"inputs":{"ids":)" + nine + R"(,"mask":)" + nine + "}}");
  EXPECT_EQ(o.status, 400) << o.body;
  EXPECT_EQ(Code(o), "shape_mismatch");
  EXPECT_NE(o.body.find("dimension 'S' is 9, over the model's maximum of 8"), std::string::npos)
      << o.body;
  // In a batch: the bad item fails alone; rows merged past the mask's maximum batch of 4 run
  // one item at a time.
  std::string item = R"({"inputs":{"ids":[[1,2],[3,4]],"mask":[[1,1],[1,1]]}})";
  o = Call("POST", "/v1/batch",
           R"({"items":[)" + item + "," + item + "," + item +
               R"(,{"inputs":{"ids":[[1,-1]],"mask":[[1,1]]}}]})");
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_EQ(Header(o, "X-Batch-Failed"), "1");
  EXPECT_EQ(Header(o, "X-Batch-Engine-Calls"), "3");
}

TEST_F(CoreTest, EmptyBatchIsAnEmptyAnswerOrA400) {
  Use("tests/models/add2/model.onnx", "add2");
  std::string v2 = R"({"inputs":[{"name":"a","datatype":"FP32","shape":[0,3],"data":[]},
      {"name":"b","datatype":"FP32","shape":[0,3],"data":[]}]})";
  Outcome o = Call("POST", "/v2/models/add2/infer", v2);
  EXPECT_EQ(o.status, 200) << o.body;
  // A model that fails on empty tensors: the request's fault, said so.
  ModelSchema schema;
  schema.inputs.push_back({"x", DType::kFp32, {-1, 2}, {"N", ""}});
  schema.outputs.push_back({"y", DType::kFp32, {-1, 2}, {"N", ""}});
  UseEngine(
      std::make_unique<FakeEngine>(schema,
                                   [](const std::vector<const Tensor*>& in,
                                      const std::vector<size_t>&) -> StatusOr<std::vector<Tensor>> {
                                     if (in[0]->shape[0] == 0) {
                                       return Status(StatusCode::kInternal, "empty", "model_error");
                                     }
                                     return std::vector<Tensor>{*in[0]};
                                   }),
      "fake");
  o = Call("POST", "/v2/models/fake/infer",
           R"({"inputs":[{"name":"x","datatype":"FP32","shape":[0,2],"data":[]}]})");
  EXPECT_EQ(o.status, 400) << o.body;
  EXPECT_EQ(Code(o), "shape_mismatch");
  EXPECT_NE(o.body.find("zero-length"), std::string::npos) << o.body;
  o = Call("POST", "/v1/batch", R"({"items":[{"inputs":[[1,2]]},{"inputs":[]}]})");
  ASSERT_EQ(o.status, 200) << o.body;
  auto j = Json::Parse(o.body);
  const auto& r = j->Find("results")->AsArray();
  EXPECT_TRUE(r[0].Find("outputs") != nullptr) << o.body;
  EXPECT_EQ(r[1].Find("error")->Find("status")->AsInt64(), 400) << o.body;
}

// Rows of a DynamicQuantizeLinear model must not share a Run: each item's answer in a batch is
// the answer it gets alone, byte for byte.
TEST_F(CoreTest, BatchDependentModelRunsItemsSeparately) {
  UseDir("tests/models/dynq", "dynq");
  const char* rows[] = {"[[0.1,-2,3,0.5]]", "[[10,20,-30,40]]", "[[0.001,0.002,0.003,0.004]]"};
  std::string batch = R"({"items":[)";
  std::vector<std::string> alone;
  for (const char* r : rows) {
    if (batch.back() != '[') batch += ",";
    batch += std::string(R"({"inputs":)") + r + "}";
    auto j = Json::Parse(Call("POST", "/v1/infer", std::string(R"({"inputs":)") + r + "}").body);
    alone.push_back(j->Find("outputs")->Dump());
  }
  batch += "]}";
  Outcome o = Call("POST", "/v1/batch", batch);
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_EQ(Header(o, "X-Batch-Engine-Calls"), "3");
  auto j = Json::Parse(o.body);
  const auto& r = j->Find("results")->AsArray();
  for (size_t i = 0; i < alone.size(); ++i) EXPECT_EQ(r[i].Find("outputs")->Dump(), alone[i]);
}

TEST_F(CoreTest, MergedBatchAnswersEqualSingleAnswers) {
  UseDir("examples/digits", "digits");
  std::string batch = R"({"items":[)";
  std::vector<std::string> alone;
  for (int i = 0; i < 4; ++i) {
    std::string row = "[[";
    for (int k = 0; k < 64; ++k) row += (k ? "," : "") + std::to_string((k * 7 + i * 3) % 17);
    row += "]]";
    if (i) batch += ",";
    batch += R"({"inputs":)" + row + "}";
    auto j = Json::Parse(Call("POST", "/v1/infer", R"({"inputs":)" + row + "}").body);
    alone.push_back(j->Find("outputs")->Dump());
  }
  batch += "]}";
  Outcome o = Call("POST", "/v1/batch", batch);
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_EQ(Header(o, "X-Batch-Engine-Calls"), "1");
  auto j = Json::Parse(o.body);
  const auto& r = j->Find("results")->AsArray();
  for (size_t i = 0; i < alone.size(); ++i) EXPECT_EQ(r[i].Find("outputs")->Dump(), alone[i]);
}

TEST_F(CoreTest, V2MetadataAndInferWithBinaryData) {
  Use("tests/models/add2/model.onnx", "add2");
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200);
  Outcome meta = Call("GET", "/v2/models/add2");
  EXPECT_EQ(
      meta.body,
      R"({"name":"add2","versions":["1"],"platform":"onnxruntime_onnx","inputs":[{"name":"a","datatype":"FP32","shape":[-1,3]},{"name":"b","datatype":"FP32","shape":[-1,3]}],"outputs":[{"name":"sum","datatype":"FP32","shape":[-1,3]},{"name":"count","datatype":"INT64","shape":[-1]}]})");
  EXPECT_EQ(Call("GET", "/v2/models/other").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/add2/versions/2/ready").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/add2/versions/1/ready").status, 200);

  std::string header =
      R"({"id":"r1","inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}},{"name":"b","shape":[1,3],"datatype":"FP32","data":[1,1,1]}],"outputs":[{"name":"count","parameters":{"binary_data":true}},{"name":"sum"}]})";
  float a[3] = {2, 0, 2};
  std::string body = header + std::string(reinterpret_cast<char*>(a), 12);
  std::string len = std::to_string(header.size());
  std::string octet = "application/octet-stream";
  Outcome o = Call("POST", "/v2/models/add2/versions/1/infer", body, &octet, &len);
  ASSERT_EQ(o.status, 200) << o.body;
  std::string hlen;
  for (const auto& [k, v] : o.headers) {
    if (k == "Inference-Header-Content-Length") hlen = v;
  }
  ASSERT_FALSE(hlen.empty());
  std::string json = o.body.substr(0, std::stoul(hlen));
  EXPECT_EQ(
      json,
      R"({"model_name":"add2","model_version":"1","id":"r1","outputs":[{"name":"count","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":8}},{"name":"sum","datatype":"FP32","shape":[1,3],"data":[3,1,3]}]})");
  int64_t count;
  ASSERT_EQ(o.body.size() - json.size(), 8u);
  memcpy(&count, o.body.data() + json.size(), 8);
  EXPECT_EQ(count, 2);
}

TEST_F(CoreTest, PerFunctionRoutesAnswerTheModelAndRouteNames) {
  auto e = OrtEngine::Load(Src("tests/models/add2/model.onnx"), OrtEngineOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  core_ = std::make_unique<FunctionCore>(std::move(e).value(), FunctionIdentity{"add2", "1"},
                                         InferenceLimits(), &clock_, &log_);
  core_->SetRouteName("adder");
  core_->SetReady(InitTimings());
  const std::string body = R"({"inputs":{"a":[[1,2,3]],"b":[[1,1,1]]}})";
  Outcome direct = Call("POST", "/v1/infer", body);
  ASSERT_EQ(direct.status, 200) << direct.body;
  for (const char* path : {"/v1/models/add2/infer", "/v1/models/adder/infer"}) {
    Outcome o = Call("POST", path, body);
    EXPECT_EQ(o.status, 200) << path << ": " << o.body;
    EXPECT_EQ(o.body, direct.body) << path;
  }
  EXPECT_EQ(Call("POST", "/v1/models/adder/batch", R"({"items":[]})").status,
            Call("POST", "/v1/batch", R"({"items":[]})").status);
  EXPECT_EQ(Call("POST", "/v1/models/other/infer", body).status, 404);
  EXPECT_EQ(Call("POST", "/v1/models/adder/predict", body).status, 404);
  EXPECT_EQ(Call("GET", "/v1/models/adder/infer").status, 405);
  EXPECT_EQ(Call("GET", "/v2/models/adder/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/other/ready").status, 404);
}

TEST_F(CoreTest, V2ErrorsUseTheProtocolShape) {
  Use("tests/models/add2/model.onnx", "add2");
  Outcome o = Call("POST", "/v2/models/add2/infer",
                   R"({"inputs":[{"name":"a","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]})");
  EXPECT_EQ(o.status, 400);
  EXPECT_EQ(o.content_type, "application/json");
  auto j = Json::Parse(o.body);
  EXPECT_TRUE(j->Find("error")->is_string());
  EXPECT_EQ(j->Find("code")->AsString(), "dtype_mismatch");
  o = Call(
      "POST", "/v2/models/add2/infer",
      R"({"inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","data":[1,2]},{"name":"b","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]})");
  EXPECT_EQ(Code(o), "shape_mismatch");
  std::string bad_len = "99999";
  o = Call("POST", "/v2/models/add2/infer", "{}", nullptr, &bad_len);
  EXPECT_EQ(Code(o), "invalid_request");
}

TEST_F(CoreTest, NotReadyAnswers503) {
  ModelSchema s;
  s.inputs.push_back({"x", DType::kFp32, {-1}, {""}});
  s.outputs.push_back({"y", DType::kFp32, {-1}, {""}});
  auto fake = std::make_unique<FakeEngine>(
      s, [](const std::vector<const Tensor*>& in, const std::vector<size_t>&) {
        Tensor t = *in[0];
        t.name = "y";
        return StatusOr<std::vector<Tensor>>(std::vector<Tensor>{std::move(t)});
      });
  FakeEngine* raw = fake.get();
  core_ = std::make_unique<FunctionCore>(std::move(fake), FunctionIdentity{"m", "1"},
                                         InferenceLimits(), &clock_, &log_);
  EXPECT_EQ(Code(Call("POST", "/v1/infer", R"({"inputs":[1]})")), "model_not_ready");
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 503);
  EXPECT_EQ(Call("GET", "/v2/health/live").status, 200);
  core_->SetReady(InitTimings());
  EXPECT_EQ(Call("POST", "/v1/infer", R"({"inputs":[1,2]})").body,
            R"({"model":"m","version":"1","outputs":{"y":[1,2]}})");
  EXPECT_EQ(raw->runs(), 1);
}

TEST_F(CoreTest, BatchedInferencesAnswerAsUnbatchedOnes) {
  Use("tests/models/add2/model.onnx", "add2");
  const std::vector<std::string> bodies = {R"({"inputs":{"a":[[1,2,3]],"b":[[3,2,1]]}})",
                                           R"({"inputs":{"a":[[0,0,9]],"b":[[1,1,1]]}})",
                                           R"({"inputs":{"a":[[5,5,5]],"b":[[4,6,5]]}})"};
  std::vector<std::string> unbatched;
  for (const std::string& b : bodies) unbatched.push_back(Call("POST", "/v1/infer", b).body);
  BatchingOptions o;
  o.max_batch = 3;
  o.max_delay_ms = 600'000;  // the third row releases the Run
  o.runners = 1;
  ASSERT_TRUE(core_->EnableBatching(o).ok());
  // Not an inference: answered before HandleAsync returns.
  bool health = false;
  Invocation h;
  h.method = "GET";
  h.path = "/v1/health";
  core_->HandleAsync(h, [&](Outcome out) { health = out.status == 200; });
  EXPECT_TRUE(health);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Outcome> answers(bodies.size());
  size_t answered = 0;
  for (size_t i = 0; i < bodies.size(); ++i) {
    std::string body = bodies[i];  // gone before the answer: the core keeps what it needs
    Invocation inv;
    inv.method = "POST";
    inv.path = "/v1/infer";
    inv.body = body;
    core_->HandleAsync(inv, [&, i](Outcome out) {
      std::lock_guard<std::mutex> lock(mu);
      answers[i] = std::move(out);
      ++answered;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return answered == bodies.size(); });
  for (size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(answers[i].status, 200);
    EXPECT_EQ(answers[i].body, unbatched[i]);
    EXPECT_FALSE(Header(answers[i], "X-Request-Id").empty());
  }
  std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("modelfn_batch_merged_requests_total 3\n"), std::string::npos) << metrics;
}

TEST_F(CoreTest, ABatchedRequestThatFailsToPrepareIsAnsweredAtOnce) {
  Use("tests/models/add2/model.onnx", "add2");
  BatchingOptions o;
  o.max_batch = 4;
  o.max_delay_ms = 600'000;
  o.runners = 1;
  ASSERT_TRUE(core_->EnableBatching(o).ok());
  Outcome got;
  bool done = false;
  Invocation inv;
  inv.method = "POST";
  inv.path = "/v1/infer";
  inv.body = R"({"inputs":{"a":[[1,2]],"b":[[1,2,3]]}})";
  core_->HandleAsync(inv, [&](Outcome out) {
    got = std::move(out);
    done = true;
  });
  ASSERT_TRUE(done);
  EXPECT_EQ(Code(got), "shape_mismatch");
}

TEST_F(CoreTest, ElementCapIs413) {
  auto e = OrtEngine::Load(Src("tests/models/add2/model.onnx"), OrtEngineOptions());
  InferenceLimits limits;
  limits.max_elements = 5;
  core_ = std::make_unique<FunctionCore>(std::move(e).value(), FunctionIdentity{"add2", "1"},
                                         limits, &clock_, &log_);
  core_->SetReady(InitTimings());
  Outcome o = Call("POST", "/v1/infer", R"({"inputs":{"a":[[1,2,3]],"b":[[1,2,3]]}})");
  EXPECT_EQ(o.status, 413);
  EXPECT_EQ(Code(o), "too_many_elements");
}

}  // namespace
}  // namespace modelfn
