#include "engine/ort_engine.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/clock.h"
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
  std::string missing = testing::TempDir() + "/missing_" + std::to_string(getpid()) + ".onnx";
  EXPECT_EQ(OrtEngine::Load(missing, OrtEngineOptions()).status().code(), StatusCode::kNotFound);
  std::string bad = testing::TempDir() + "/corrupt.onnx";
  ASSERT_TRUE(WriteFileAtomic(bad, "this is not a protobuf").ok());
  auto r = OrtEngine::Load(bad, OrtEngineOptions());
  EXPECT_EQ(r.status().reason(), "invalid_model");
}

Tensor Fp32(std::vector<int64_t> shape, const std::vector<float>& values) {
  Tensor t;
  t.dtype = DType::kFp32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

std::vector<float> Floats(const Tensor& t) {
  std::vector<float> out(t.data.size() / sizeof(float));
  memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

// Runs from a working directory that holds a decoy weights.bin of the same size: the model's own
// file beside it must be the one read, whatever the working directory.
TEST(OrtEngineTest, ExternalDataIsReadFromTheModelFolderNotTheWorkingDirectory) {
  std::string cwd = CurrentDir();
  std::string decoy_dir = testing::TempDir() + "/decoy-cwd";
  mkdir(decoy_dir.c_str(), 0755);
  ASSERT_TRUE(WriteFileAtomic(decoy_dir + "/weights.bin", std::string(48, '\x7f')).ok());
  ASSERT_EQ(chdir(decoy_dir.c_str()), 0);
  auto bytes = ReadFile(Src("tests/models/extdata/model.onnx"));
  ASSERT_TRUE(bytes.ok());
  auto e =
      OrtEngine::LoadFromBytes(*bytes, Src("tests/models/extdata/model.onnx"), OrtEngineOptions());
  ASSERT_EQ(chdir(cwd.c_str()), 0);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Tensor x = Fp32({1, 4}, {1, 0, 0, 0});
  auto r = (*e)->Run({&x}, {0});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Row 0 of W = (arange(12).reshape(4, 3) - 5.5) / 4.
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{-1.375f, -1.125f, -0.875f}));
}

TEST(OrtEngineTest, ExternalDataOutsideTheFolderIsRefused) {
  std::string dir = testing::TempDir() + "/unsafe-models";
  mkdir(dir.c_str(), 0755);
  unlink((dir + "/link.bin").c_str());
  ASSERT_EQ(symlink("/etc/hostname", (dir + "/link.bin").c_str()), 0);
  for (const char* name : {"dotdot", "absolute", "link"}) {
    auto bytes = ReadFile(Src(std::string("tests/models/unsafe/") + name + ".onnx"));
    ASSERT_TRUE(bytes.ok());
    auto e = OrtEngine::LoadFromBytes(*bytes, dir + "/model.onnx", OrtEngineOptions());
    ASSERT_FALSE(e.ok()) << name;
    EXPECT_EQ(e.status().reason(), "unsafe_external_data") << name;
  }
}

TEST(OrtEngineTest, IndexPastTheTableIsTheCallersInvalidInput) {
  auto e = OrtEngine::Load(Src("tests/models/embed/model.onnx"), OrtEngineOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Tensor ids;
  ids.dtype = DType::kInt64;
  ids.shape = {1, 2};
  std::vector<int64_t> v = {1, 12};  // the vocabulary has 10 entries
  ids.data.resize(sizeof(int64_t) * 2);
  memcpy(ids.data.data(), v.data(), ids.data.size());
  Tensor mask = ids;
  auto r = (*e)->Run({&ids, &mask}, {0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().reason(), "invalid_input");
  v[1] = 9;
  memcpy(ids.data.data(), v.data(), ids.data.size());
  EXPECT_TRUE((*e)->Run({&ids, &mask}, {0}).ok());
}

// The work model runs `loops` 256x256 MatMuls: a run of millions of them is stopped at its
// deadline, answers a typed timeout, and the engine serves the next run.
TEST(OrtEngineTest, ARunPastItsDeadlineIsStoppedAndTheEngineKeepsWorking) {
  auto e = OrtEngine::Load(Src("tests/models/work/model.onnx"), OrtEngineOptions());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const ModelSchema& s = (*e)->schema();
  auto i64 = [](std::vector<int64_t> v) {
    Tensor t;
    t.dtype = DType::kInt64;
    t.shape = {static_cast<int64_t>(v.size())};
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(v.data());
    t.data.assign(bytes, bytes + v.size() * sizeof(int64_t));
    return t;
  };
  Tensor x;
  x.dtype = DType::kFp32;
  x.shape = {1, 4};
  x.data.resize(16);
  Tensor loops = i64({50'000'000});  // hours of MatMuls
  Tensor alloc = i64({1, 1});
  std::vector<const Tensor*> in(s.inputs.size());
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    const std::string& n = s.inputs[i].name;
    in[i] = n == "x" ? &x : n == "loops" ? &loops : &alloc;
  }
  std::vector<size_t> out = {static_cast<size_t>(s.OutputIndex("y"))};
  RunLimits limits;
  limits.deadline_mono_ns = RealClock::Get().MonotonicNanos() + 50'000'000;
  auto r = (*e)->Run(in, out, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().reason(), "timeout");
  loops = i64({1});
  limits.deadline_mono_ns = RealClock::Get().MonotonicNanos() + 3600'000'000'000;
  EXPECT_TRUE((*e)->Run(in, out, limits).ok());
}

}  // namespace
}  // namespace modelfn
