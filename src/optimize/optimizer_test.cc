#include "optimize/optimizer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "common/files.h"
#include "common/json.h"

namespace modelfn {
namespace {

std::string Src(const std::string& rel) { return std::string(MODELFN_SOURCE_DIR) + "/" + rel; }

class OptimizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/optimizer-test-XXXXXX";
    ASSERT_NE(mkdtemp(t), nullptr);
    out_ = t;
  }
  void TearDown() override { (void)system(("rm -rf " + out_).c_str()); }
  OptimizeOptions Options() {
    OptimizeOptions o;
    o.version = "1.0.0-opt";
    o.from = "digits@1.0.0";
    o.timing_rounds = 1;
    auto s = LoadSamples(Src("examples/digits/requests/infer.json"), 64);
    EXPECT_TRUE(s.ok());
    o.samples = *s;
    return o;
  }
  bool Empty() {
    struct stat st;
    return stat((out_ + "/model.onnx").c_str(), &st) != 0 &&
           stat((out_ + "/manifest.json").c_str(), &st) != 0;
  }
  std::string out_;
};

TEST_F(OptimizerTest, WritesAVersionThatLoadsAndSaysHowItWasMade) {
  auto r = OptimizeModelDir(Src("examples/digits"), out_, Options(), RealClock::Get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->manifest.version, "1.0.0-opt");
  EXPECT_EQ(r->accuracy.samples, 1u);
  EXPECT_EQ(r->accuracy.max_abs_error, 0);
  EXPECT_GT(r->before.bytes, 0u);
  EXPECT_GT(r->after.zipped_bytes, 0u);
  auto written = ParseManifest(ReadFile(out_ + "/manifest.json").value());
  ASSERT_TRUE(written.ok());
  auto record = Json::Parse(written->optimization);
  ASSERT_TRUE(record.ok()) << written->optimization;
  EXPECT_EQ(record->Find("from")->AsString(), "digits@1.0.0");
  EXPECT_EQ(record->Find("graph_level")->AsString(), "extended");
  EXPECT_TRUE(record->Find("quantization")->is_null());
  EXPECT_EQ(record->Find("accuracy")->Find("samples")->AsInt64(), 1);
  // The manifest's pipeline (labels) and schema carry over.
  auto source = ParseManifest(ReadFile(Src("examples/digits/manifest.json")).value());
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(written->schema.outputs.size(), source->schema.outputs.size());
  EXPECT_EQ(written->pipeline.has_value(), source->pipeline.has_value());
  EXPECT_EQ(written->files.size(), source->files.size());
}

TEST_F(OptimizerTest, OptionsThatDoNothingOrDoNotFitAreUsageErrors) {
  OptimizeOptions o = Options();
  o.graph_level = 0;
  EXPECT_EQ(OptimizeModelDir(Src("examples/digits"), out_, o, RealClock::Get()).status().reason(),
            "usage");
  o = Options();
  o.quantize = "static";
  o.samples.synthetic = true;
  EXPECT_EQ(OptimizeModelDir(Src("examples/digits"), out_, o, RealClock::Get()).status().reason(),
            "usage");
  o = Options();
  o.version = "bad version";
  EXPECT_FALSE(OptimizeModelDir(Src("examples/digits"), out_, o, RealClock::Get()).ok());
  EXPECT_TRUE(Empty());
}

TEST_F(OptimizerTest, SamplesThatDoNotFitTheModelAreNamed) {
  OptimizeOptions o = Options();
  o.samples.bodies = {R"({"inputs": [[1, 2]]})"};
  auto r = OptimizeModelDir(Src("examples/digits"), out_, o, RealClock::Get());
  EXPECT_EQ(r.status().reason(), "invalid_samples");
  EXPECT_TRUE(Empty());
}

TEST_F(OptimizerTest, AnUnverifiableSourceIsNeverOptimised) {
  // A copy of the example whose model no longer matches its manifest.
  std::string src = out_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  std::string out = out_ + "/out";
  ASSERT_EQ(mkdir(out.c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomic(src + "/manifest.json",
                              ReadFile(Src("examples/digits/manifest.json")).value())
                  .ok());
  std::string model = ReadFile(Src("examples/digits/model.onnx")).value();
  model[model.size() / 2] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(src + "/model.onnx", model).ok());
  auto r = OptimizeModelDir(src, out, Options(), RealClock::Get());
  EXPECT_EQ(r.status().reason(), "checksum_mismatch");
}

}  // namespace
}  // namespace modelfn
