#include "optimize/accuracy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/json.h"
#include "engine/fake_engine.h"

namespace modelfn {
namespace {

ModelSchema Schema() {
  ModelSchema s;
  s.inputs.push_back(TensorSpec{"x", DType::kFp32, {-1, 3}, {"N", ""}});
  s.outputs.push_back(TensorSpec{"scores", DType::kFp32, {-1, 3}, {"N", ""}});
  s.outputs.push_back(TensorSpec{"label", DType::kInt64, {-1}, {"N"}});
  return s;
}

// A model answering scores = x + delta (per class) and label = argmax(x + delta).
FakeEngine::RunFn Model(std::vector<float> delta, bool fail = false) {
  return [delta, fail](const std::vector<const Tensor*>& in,
                       const std::vector<size_t>& outs) -> StatusOr<std::vector<Tensor>> {
    if (fail) return Status(StatusCode::kInternal, "broken", "model_error");
    const Tensor& x = *in[0];
    int64_t rows = x.shape[0];
    Tensor scores{"scores", DType::kFp32, {rows, 3}, std::vector<uint8_t>(rows * 3 * 4), {}};
    Tensor label{"label", DType::kInt64, {rows}, std::vector<uint8_t>(rows * 8), {}};
    for (int64_t r = 0; r < rows; ++r) {
      int64_t best = 0;
      for (int64_t k = 0; k < 3; ++k) {
        scores.MutableAs<float>()[r * 3 + k] = x.As<float>()[r * 3 + k] + delta[k];
        if (scores.As<float>()[r * 3 + k] > scores.As<float>()[r * 3 + best]) best = k;
      }
      label.MutableAs<int64_t>()[r] = best;
    }
    std::vector<Tensor> all = {scores, label};
    std::vector<Tensor> picked;
    for (size_t o : outs) picked.push_back(all[o]);
    return picked;
  };
}

Samples Rows(std::vector<std::string> bodies) {
  Samples s;
  s.bodies = std::move(bodies);
  s.source = "test";
  return s;
}

TEST(AccuracyTest, IdenticalModelsAgreeFully) {
  FakeEngine a(Schema(), Model({0, 0, 0})), b(Schema(), Model({0, 0, 0}));
  auto r =
      CompareEngines(a, b, Rows({R"({"inputs":[[1,2,3]]})", R"({"inputs":[[3,2,1],[0,5,0]]})"}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->samples, 2u);
  EXPECT_EQ(r->max_abs_error, 0);
  ASSERT_TRUE(r->agreement);
  EXPECT_EQ(*r->agreement, 1.0);
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_EQ(r->outputs[0].rows, 3u);  // argmax per row of scores
  EXPECT_EQ(r->outputs[1].rows, 3u);  // label elements
  EXPECT_DOUBLE_EQ(r->outputs[0].max_abs_value, 5);
  EXPECT_TRUE(CheckGate(*r, AccuracyGate{0.0, 1.0}).ok());
}

TEST(AccuracyTest, ErrorsAndFlippedAnswersAreMeasuredAndGated) {
  // The candidate adds 0.5 to class 2: rows whose top two are within 0.5 flip.
  FakeEngine a(Schema(), Model({0, 0, 0})), b(Schema(), Model({0, 0, 0.5f}));
  auto r = CompareEngines(a, b,
                          Rows({R"({"inputs":[[1,0,0.8]]})", R"({"inputs":[[5,0,0]]})",
                                R"({"inputs":[[0,3,2.9]]})", R"({"inputs":[[0,0,9]]})"}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FLOAT_EQ(r->max_abs_error, 0.5);
  ASSERT_TRUE(r->agreement);
  EXPECT_DOUBLE_EQ(*r->agreement, 0.5);  // rows 1 and 3 flipped
  EXPECT_DOUBLE_EQ(*r->outputs[1].agreement, 0.5);
  EXPECT_TRUE(CheckGate(*r, AccuracyGate{0.5, 0.5}).ok());
  Status s = CheckGate(*r, AccuracyGate{0.1, std::nullopt});
  EXPECT_EQ(s.reason(), "accuracy_gate_failed");
  EXPECT_NE(s.message().find("output 'scores': max abs error 0.5 > 0.1"), std::string::npos)
      << s.message();
  s = CheckGate(*r, AccuracyGate{std::nullopt, 0.99});
  EXPECT_EQ(s.reason(), "accuracy_gate_failed");
  EXPECT_NE(s.message().find("agreement 0.5 < 0.99"), std::string::npos) << s.message();
  auto json = Json::Parse(AccuracyJson(*r, true));
  ASSERT_TRUE(json.ok());
  EXPECT_TRUE(json->Find("synthetic")->AsBool());
  EXPECT_EQ(json->Find("outputs")->AsArray().size(), 2u);
}

TEST(AccuracyTest, ACandidateThatFailsASampleIsRefused) {
  FakeEngine a(Schema(), Model({0, 0, 0})), b(Schema(), Model({0, 0, 0}, /*fail=*/true));
  auto r = CompareEngines(a, b, Rows({R"({"inputs":[[1,2,3]]})"}));
  EXPECT_EQ(r.status().reason(), "optimized_model_fails");
}

TEST(AccuracyTest, ASampleTheOriginalCannotTakeIsTheSamplesFault) {
  FakeEngine a(Schema(), Model({0, 0, 0})), b(Schema(), Model({0, 0, 0}));
  auto r = CompareEngines(a, b, Rows({R"({"inputs":[[1,2]]})"}));
  EXPECT_EQ(r.status().reason(), "invalid_samples");
  EXPECT_NE(r.status().message().find("sample 1 of test"), std::string::npos);
}

TEST(AccuracyTest, NaNOnOneSideIsAnInfiniteError) {
  FakeEngine a(Schema(), Model({0, 0, 0})), b(Schema(), Model({0, 0, std::nanf("")}));
  auto r = CompareEngines(a, b, Rows({R"({"inputs":[[1,2,3]]})"}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::isinf(r->max_abs_error));
  EXPECT_EQ(CheckGate(*r, AccuracyGate{1e9, std::nullopt}).reason(), "accuracy_gate_failed");
}

}  // namespace
}  // namespace modelfn
