#include "engine/ort_engine.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/files.h"

namespace modelfn {
namespace {

std::string Src(const std::string& rel) { return std::string(MODELFN_SOURCE_DIR) + "/" + rel; }

TEST(OrtEngineTest, ReadsSchemaWithSymbolicDims) {
  auto e = OrtEngine::Load(Src("examples/digits/model.onnx"), OrtEngineOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const ModelSchema& s = (*e)->schema();
  ASSERT_EQ(s.inputs.size(), 1u);
  EXPECT_EQ(s.inputs[0].name, "pixels");
  EXPECT_EQ(s.inputs[0].dtype, DType::kFp32);
  EXPECT_EQ(s.inputs[0].shape, (std::vector<int64_t>{-1, 64}));
  EXPECT_EQ(s.inputs[0].dim_params[0], "N");
  ASSERT_EQ(s.outputs.size(), 2u);
  EXPECT_EQ(s.OutputIndex("probabilities"), 1);
  EXPECT_EQ(s.outputs[0].dtype, DType::kInt64);
}

TEST(OrtEngineTest, RunsAllDtypesThroughIdentity) {
  auto e = OrtEngine::Load(Src("tests/models/dtypes/model.onnx"), OrtEngineOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const ModelSchema& s = (*e)->schema();
  std::vector<Tensor> ins(s.inputs.size());
  std::vector<const Tensor*> ptrs;
  std::vector<size_t> outs;
  for (size_t i = 0; i < ins.size(); ++i) {
    ins[i].dtype = s.inputs[i].dtype;
    ins[i].shape = {2};
    if (ins[i].dtype == DType::kBytes) {
      ins[i].strings = {"x", "hello"};
    } else {
      ins[i].data.resize(2 * DTypeSize(ins[i].dtype));
      for (size_t b = 0; b < ins[i].data.size(); ++b)
        ins[i].data[b] = static_cast<uint8_t>(b % 2 + 1 - (ins[i].dtype == DType::kBool));
    }
    ptrs.push_back(&ins[i]);
    outs.push_back(static_cast<size_t>(s.OutputIndex(s.inputs[i].name + "_out")));
  }
  auto r = (*e)->Run(ptrs, outs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (size_t i = 0; i < ins.size(); ++i) {
    EXPECT_EQ((*r)[i].dtype, ins[i].dtype);
    EXPECT_EQ((*r)[i].shape, ins[i].shape);
    EXPECT_EQ((*r)[i].data, ins[i].data) << DTypeName(ins[i].dtype);
    EXPECT_EQ((*r)[i].strings, ins[i].strings);
  }
}

TEST(OrtEngineTest, RuntimeFailureIsModelErrorAndEngineKeepsWorking) {
  auto e = OrtEngine::Load(Src("tests/models/fails/model.onnx"), OrtEngineOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Tensor x;
  x.dtype = DType::kFp32;
  x.shape = {1, 3};
  x.data.resize(12);
  auto r = (*e)->Run({&x}, {0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "model_error");
  x.shape = {2, 2};
  x.data.resize(16);
  auto ok = (*e)->Run({&x}, {0});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)[0].shape, (std::vector<int64_t>{1, 4}));
}

TEST(OrtEngineTest, MissingAndCorruptModels) {
  EXPECT_EQ(OrtEngine::Load("/nonexistent.onnx", OrtEngineOptions()).status().code(),
            StatusCode::kNotFound);
  std::string bad = testing::TempDir() + "/corrupt.onnx";
  ASSERT_TRUE(WriteFileAtomic(bad, "this is not a protobuf").ok());
  auto r = OrtEngine::Load(bad, OrtEngineOptions());
  EXPECT_EQ(r.status().reason(), "invalid_model");
}

}  // namespace
}  // namespace modelfn
