#include "engine/onnx_model_info.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "common/files.h"

namespace modelfn {
namespace {

std::string Src(const std::string& rel) { return std::string(MODELFN_SOURCE_DIR) + "/" + rel; }

std::string ReadModel(const std::string& rel) {
  auto bytes = ReadFile(Src(rel));
  EXPECT_TRUE(bytes.ok()) << rel;
  return bytes.ok() ? *bytes : std::string();
}

TEST(InspectOnnxModelTest, FindsExternalDataAndOps) {
  auto info = InspectOnnxModel(ReadModel("tests/models/extdata/model.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->external_files, std::vector<std::string>{"weights.bin"});
  EXPECT_EQ(info->ops, std::set<std::string>{"MatMul"});
}

TEST(InspectOnnxModelTest, InlineWeightsHaveNoExternalFiles) {
  auto info = InspectOnnxModel(ReadModel("examples/digits/model.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(info->external_files.empty());
  EXPECT_FALSE(info->ops.empty());
}

TEST(InspectOnnxModelTest, SeesOpsInsideSubgraphs) {
  auto info = InspectOnnxModel(ReadModel("tests/models/work/model.onnx"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->ops.count("Loop"), 1u);
  EXPECT_EQ(info->ops.count("MatMul"), 1u);  // only in the Loop's body
}

TEST(InspectOnnxModelTest, ReportsEveryUnsafeLocationAsWritten) {
  auto dotdot = InspectOnnxModel(ReadModel("tests/models/unsafe/dotdot.onnx"));
  ASSERT_TRUE(dotdot.ok());
  EXPECT_EQ(dotdot->external_files, std::vector<std::string>{"../secret.bin"});
  auto absolute = InspectOnnxModel(ReadModel("tests/models/unsafe/absolute.onnx"));
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(absolute->external_files, std::vector<std::string>{"/etc/hostname"});
}

TEST(InspectOnnxModelTest, TruncatedModelIsInvalid) {
  std::string bytes = ReadModel("tests/models/extdata/model.onnx");
  auto info = InspectOnnxModel(std::string_view(bytes).substr(0, bytes.size() - 7));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().reason(), "invalid_model");
}

TEST(InspectOnnxModelTest, GarbageIsInvalid) {
  auto info = InspectOnnxModel("\x3a\xff\xff\xff\xff\x0f garbage");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().reason(), "invalid_model");
}

TEST(InspectOnnxModelTest, DeepNestingIsRefused) {
  // graph { node { attribute { g { node { attribute { g { ... } } } } } } }, 100 levels.
  std::string inner;
  auto wrap = [](int field, const std::string& body) {
    std::string out(1, static_cast<char>(field << 3 | 2));
    size_t n = body.size();
    do {
      uint8_t b = n & 0x7f;
      n >>= 7;
      out.push_back(static_cast<char>(n ? (b | 0x80) : b));
    } while (n);
    return out + body;
  };
  for (int i = 0; i < 100; ++i) inner = wrap(1, wrap(5, wrap(6, inner)));
  auto info = InspectOnnxModel(wrap(7, inner));
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("deeper"), std::string::npos);
}

TEST(BatchDependentOpsTest, NamesDynamicQuantizeLinear) {
  auto info = InspectOnnxModel(ReadModel("tests/models/dynq/model.onnx"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(BatchDependentOps(*info), std::vector<std::string>{"DynamicQuantizeLinear"});
  auto digits = InspectOnnxModel(ReadModel("examples/digits/model.onnx"));
  ASSERT_TRUE(digits.ok());
  EXPECT_TRUE(BatchDependentOps(*digits).empty());
}

class ResolveExternalFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/modelfn-ext-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/model";
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/w.bin", "w").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/sub/v.bin", "v").ok());
    ASSERT_TRUE(WriteFileAtomic(root_ + "/secret.bin", "s").ok());
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + root_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string root_, dir_;
};

TEST_F(ResolveExternalFileTest, AcceptsFilesInsideTheFolder) {
  EXPECT_EQ(*ResolveExternalFile(dir_, "w.bin"), "w.bin");
  EXPECT_EQ(*ResolveExternalFile(dir_, "./sub//v.bin"), "sub/v.bin");
  ASSERT_EQ(symlink("sub/v.bin", (dir_ + "/inner-link").c_str()), 0);
  EXPECT_EQ(*ResolveExternalFile(dir_, "inner-link"), "inner-link");
}

TEST_F(ResolveExternalFileTest, RefusesPathsOut) {
  for (const char* bad :
       {"../secret.bin", "sub/../../secret.bin", "sub/../w.bin", "/etc/hostname", "", ".", "sub"}) {
    auto r = ResolveExternalFile(dir_, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().reason(), "unsafe_external_data") << bad;
    EXPECT_NE(r.status().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
}

TEST_F(ResolveExternalFileTest, RefusesSymlinksOut) {
  ASSERT_EQ(symlink((root_ + "/secret.bin").c_str(), (dir_ + "/link.bin").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (dir_ + "/etc").c_str()), 0);
  for (const char* bad : {"link.bin", "etc/hostname"}) {
    auto r = ResolveExternalFile(dir_, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().reason(), "unsafe_external_data") << bad;
  }
}

TEST_F(ResolveExternalFileTest, MissingFileIsNotFound) {
  auto r = ResolveExternalFile(dir_, "nope.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().reason(), "external_data_missing");
}

}  // namespace
}  // namespace modelfn
