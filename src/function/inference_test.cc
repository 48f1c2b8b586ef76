#include "function/inference.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

TensorSpec Spec(std::vector<int64_t> shape) {
  TensorSpec s;
  s.name = "x";
  s.shape = std::move(shape);
  s.dim_params.assign(s.shape.size(), "");
  if (!s.dim_params.empty()) s.dim_params[0] = "N";
  return s;
}

TEST(InferenceTest, CheckShapeAcceptsDynamicDims) {
  Tensor t;
  t.shape = {5, 64};
  EXPECT_TRUE(CheckShape(Spec({-1, 64}), t).ok());
  t.shape = {5, 63};
  Status s = CheckShape(Spec({-1, 64}), t);
  EXPECT_EQ(s.reason(), "shape_mismatch");
  EXPECT_NE(s.message().find("[N,64]"), std::string::npos) << s.message();
  t.shape = {64};
  EXPECT_NE(CheckShape(Spec({-1, 64}), t).message().find("wrap a single example"),
            std::string::npos);
}

TEST(InferenceTest, V2BinaryDataMustBeFullyClaimed) {
  ModelSchema schema;
  schema.inputs.push_back({"x", DType::kInt32, {-1}, {""}});
  schema.outputs.push_back({"y", DType::kInt32, {-1}, {""}});
  auto header = Json::Parse(
      R"({"inputs":[{"name":"x","shape":[2],"datatype":"INT32","parameters":{"binary_data_size":8}}]})");
  ASSERT_TRUE(header.ok());
  std::string bin(8, '\0');
  auto p = PrepareV2Request(*header, bin, schema, 100);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->inputs[0].shape, (std::vector<int64_t>{2}));
  EXPECT_FALSE(PrepareV2Request(*header, bin + "xx", schema, 100).ok());
  EXPECT_FALSE(PrepareV2Request(*header, bin.substr(0, 4), schema, 100).ok());
}

TEST(InferenceTest, V2ResponseAllBinaryViaRequestParameter) {
  ModelSchema schema;
  schema.inputs.push_back({"x", DType::kFp32, {-1}, {""}});
  schema.outputs.push_back({"y", DType::kFp32, {-1}, {""}});
  auto header = Json::Parse(
      R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"parameters":{"binary_data_output":true}})");
  auto p = PrepareV2Request(*header, "", schema, 100);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->binary_outputs.size(), 1u);
  EXPECT_TRUE(p->binary_outputs[0]);
  Tensor y;
  y.name = "y";
  y.dtype = DType::kFp32;
  y.shape = {1};
  y.data.assign(4, 0);
  std::string out;
  auto len = WriteV2Response("m", "1", nullptr, {y}, p->binary_outputs, &out);
  ASSERT_TRUE(len.has_value());
  EXPECT_EQ(out.size(), *len + 4);
}

}  // namespace
}  // namespace modelfn
