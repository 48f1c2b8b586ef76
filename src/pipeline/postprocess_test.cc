#include "pipeline/postprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace modelfn {
namespace {

Tensor Fp32(std::vector<int64_t> shape, const std::vector<float>& v, const char* name = "t") {
  Tensor t;
  t.name = name;
  t.dtype = DType::kFp32;
  t.shape = std::move(shape);
  t.data.resize(v.size() * 4);
  if (!v.empty()) std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

Tensor Int64(std::vector<int64_t> shape, const std::vector<int64_t>& v) {
  Tensor t;
  t.name = "mask";
  t.dtype = DType::kInt64;
  t.shape = std::move(shape);
  t.data.resize(v.size() * 8);
  if (!v.empty()) std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

std::vector<float> Values(const Tensor& t) {
  std::vector<float> v(t.data.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

TEST(PostprocessTest, SoftmaxRowsSumToOneAndKeepOrder) {
  auto s = SoftmaxLastDim(Fp32({2, 3}, {1, 2, 3, 1000, 1000, 1000}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::vector<float> v = Values(*s);
  EXPECT_EQ(s->shape, (std::vector<int64_t>{2, 3}));
  double e1 = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0);
  EXPECT_NEAR(v[0], e1 / (e1 + e2 + e3), 1e-7);
  EXPECT_NEAR(v[2], e3 / (e1 + e2 + e3), 1e-7);
  // Large logits do not overflow: the row's maximum is subtracted first.
  EXPECT_NEAR(v[3], 1.0 / 3, 1e-7);
  EXPECT_NEAR(v[5], 1.0 / 3, 1e-7);
}

TEST(PostprocessTest, SoftmaxRefusesScalarsAndEmptyRows) {
  EXPECT_FALSE(SoftmaxLastDim(Fp32({}, {1})).ok());
  EXPECT_FALSE(SoftmaxLastDim(Fp32({2, 0}, {})).ok());
}

TEST(PostprocessTest, TopKOrdersByScoreThenIndex) {
  auto r = TopKLastDim(Fp32({2, 4}, {0.1f, 0.7f, 0.7f, 0.2f, 5, 4, 3, 2}), 3, false);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 6u);
  EXPECT_EQ((*r)[0].index, 1);  // tie with 2: the lower index first
  EXPECT_EQ((*r)[1].index, 2);
  EXPECT_EQ((*r)[2].index, 3);
  EXPECT_FLOAT_EQ(static_cast<float>((*r)[2].score), 0.2f);
  EXPECT_EQ((*r)[3].index, 0);
  EXPECT_EQ((*r)[5].index, 2);
}

TEST(PostprocessTest, TopKWithSoftmaxScoresAndKCappedAtRowLength) {
  auto r = TopKLastDim(Fp32({1, 2}, {0, std::log(3.0f)}), 5, true);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].index, 1);
  EXPECT_NEAR((*r)[0].score, 0.75, 1e-6);
  EXPECT_NEAR((*r)[1].score, 0.25, 1e-6);
}

TEST(PostprocessTest, TopKPutsNanLast) {
  auto r = TopKLastDim(Fp32({1, 3}, {NAN, 1, 2}), 2, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].index, 2);
  EXPECT_EQ((*r)[1].index, 1);
}

TEST(PostprocessTest, TopKOnIntegersWithRawScores) {
  auto r = TopKLastDim(Int64({3}, {4, 9, 1}), 1, false);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].index, 1);
  EXPECT_EQ((*r)[0].score, 9);
}

TEST(PostprocessTest, MeanPoolIgnoresMaskedTokensAndNormalises) {
  // Two texts, three tokens, two hidden units; the second text's last token is padding.
  Tensor h = Fp32({2, 3, 2}, {1, 2, 3, 4, 5, 6, 2, 0, 4, 0, 100, 100}, "hidden");
  Tensor m = Int64({2, 3}, {1, 1, 1, 1, 1, 0});
  auto raw = MeanPool(h, m, false);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(raw->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(raw->name, "hidden");
  EXPECT_EQ(Values(*raw), (std::vector<float>{3, 4, 3, 0}));
  auto unit = MeanPool(h, m, true);
  ASSERT_TRUE(unit.ok());
  std::vector<float> v = Values(*unit);
  EXPECT_NEAR(v[0], 0.6, 1e-7);
  EXPECT_NEAR(v[1], 0.8, 1e-7);
  EXPECT_NEAR(v[2], 1.0, 1e-7);
  EXPECT_NEAR(v[3], 0.0, 1e-7);
}

TEST(PostprocessTest, MeanPoolOfAllPaddingIsZeroNotNan) {
  auto r = MeanPool(Fp32({1, 2, 2}, {1, 1, 1, 1}), Int64({1, 2}, {0, 0}), true);
  ASSERT_TRUE(r.ok());
  for (float f : Values(*r)) EXPECT_EQ(f, 0.0f);
}

TEST(PostprocessTest, MeanPoolRefusesAMaskOfAnotherShape) {
  auto r = MeanPool(Fp32({1, 2, 2}, {1, 1, 1, 1}), Int64({1, 3}, {1, 1, 1}), true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "shape_mismatch");
  EXPECT_NE(r.status().message().find("[1,2]"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace modelfn
