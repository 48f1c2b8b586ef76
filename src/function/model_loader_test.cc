#include "function/model_loader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/files.h"
#include "engine/ort_engine.h"

namespace modelfn {
namespace {

std::string Src(const std::string& rel) { return std::string(MODELFN_SOURCE_DIR) + "/" + rel; }

EngineFactory Ort() {
  return [](const std::string& p, std::string_view bytes) -> StatusOr<std::unique_ptr<Engine>> {
    ASSIGN_OR_RETURN(auto e, OrtEngine::LoadFromBytes(bytes, p, OrtEngineOptions()));
    return std::unique_ptr<Engine>(std::move(e));
  };
}

std::string CopyExample(const std::string& name) {
  std::string dir = testing::TempDir() + "/" + name;
  mkdir(dir.c_str(), 0755);
  for (const char* f : {"model.onnx", "manifest.json"}) {
    EXPECT_TRUE(WriteFileAtomic(dir + "/" + f, ReadFile(Src("examples/digits/") + f).value()).ok());
  }
  return dir;
}

TEST(ModelLoaderTest, LoadsVerifiesAndWarmsUp) {
  auto m = LoadModelDir(Src("examples/digits"), Ort(), RealClock::Get());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->manifest.name, "digits");
  EXPECT_TRUE(m->warmup.ok());
  EXPECT_GT(m->timings.model_load_ms, 0);
}

// The digest runs while the session is made from the same bytes in memory: a tampered model may
// reach the engine factory, but its engine is dropped and the digest's error is the one reported,
// whether the factory accepted the bytes or failed on them.
TEST(ModelLoaderTest, TamperedModelIsNeverServed) {
  std::string dir = CopyExample("tampered");
  std::string bytes = ReadFile(dir + "/model.onnx").value();
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(dir + "/model.onnx", bytes).ok());
  for (bool factory_fails : {false, true}) {
    SCOPED_TRACE(factory_fails ? "the factory fails" : "the factory makes an engine");
    int engines_alive = 0;
    struct CountedEngine : public Engine {
      explicit CountedEngine(int* alive) : alive_(alive) { ++*alive_; }
      ~CountedEngine() override { --*alive_; }
      const ModelSchema& schema() const override { return schema_; }
      StatusOr<std::vector<Tensor>> Run(const std::vector<const Tensor*>&,
                                        const std::vector<size_t>&, const RunLimits&) override {
        return InternalError("never run");
      }
      int* alive_;
      ModelSchema schema_;
    };
    std::string seen;
    auto m = LoadModelDir(
        dir,
        [&](const std::string&, std::string_view b) -> StatusOr<std::unique_ptr<Engine>> {
          seen = std::string(b);
          if (factory_fails) return InternalError("the engine could not parse it");
          return std::unique_ptr<Engine>(std::make_unique<CountedEngine>(&engines_alive));
        },
        RealClock::Get());
    EXPECT_EQ(m.status().reason(), "checksum_mismatch");
    EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
    EXPECT_EQ(seen, bytes);       // the factory saw exactly the bytes that failed their digest
    EXPECT_EQ(engines_alive, 0);  // and whatever it made is gone
  }
}

TEST(ModelLoaderTest, TruncatedModelIsRefused) {
  std::string dir = CopyExample("truncated");
  std::string bytes = ReadFile(dir + "/model.onnx").value();
  ASSERT_TRUE(WriteFileAtomic(dir + "/model.onnx", bytes.substr(0, 100)).ok());
  EXPECT_EQ(LoadModelDir(dir, Ort(), RealClock::Get()).status().code(), StatusCode::kDataLoss);
}

TEST(ModelLoaderTest, MissingManifestSaysHowToWriteOne) {
  std::string dir = CopyExample("nomanifest");
  unlink((dir + "/manifest.json").c_str());
  auto m = LoadModelDir(dir, Ort(), RealClock::Get());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("modelfn manifest"), std::string::npos);
}

TEST(ModelLoaderTest, ManifestOfAnotherModelIsRefused) {
  std::string dir = CopyExample("mismatch");
  ASSERT_TRUE(
      WriteFileAtomic(dir + "/model.onnx", ReadFile(Src("tests/models/add2/model.onnx")).value())
          .ok());
  std::string manifest = ReadFile(Src("tests/models/add2/manifest.json")).value();
  // Keep add2's file hashes but claim digits' schema.
  auto parsed = ParseManifest(manifest);
  ASSERT_TRUE(parsed.ok());
  auto digits = ParseManifest(ReadFile(Src("examples/digits/manifest.json")).value());
  parsed->schema = digits->schema;
  ASSERT_TRUE(WriteFileAtomic(dir + "/manifest.json", SerializeManifest(*parsed)).ok());
  EXPECT_EQ(LoadModelDir(dir, Ort(), RealClock::Get()).status().reason(), "manifest_mismatch");
}

// A copy of tests/models/extdata (model.onnx + weights.bin + manifest.json) in a fresh folder.
std::string CopyExtData(const std::string& name) {
  std::string dir = testing::TempDir() + "/" + name;
  mkdir(dir.c_str(), 0755);
  for (const char* f : {"model.onnx", "manifest.json", "weights.bin"}) {
    EXPECT_TRUE(
        WriteFileAtomic(dir + "/" + f, ReadFile(Src("tests/models/extdata/") + f).value()).ok());
  }
  return dir;
}

TEST(ModelLoaderTest, ExternalDataIsListedVerifiedAndLoaded) {
  auto m = LoadModelDir(CopyExtData("ext-ok"), Ort(), RealClock::Get());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->manifest.files.size(), 2u);
  EXPECT_TRUE(m->warmup.ok()) << m->warmup.ToString();
}

TEST(ModelLoaderTest, TamperedExternalDataIsChecksumMismatch) {
  std::string dir = CopyExtData("ext-tampered");
  std::string w = ReadFile(dir + "/weights.bin").value();
  w[5] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(dir + "/weights.bin", w).ok());
  auto m = LoadModelDir(dir, Ort(), RealClock::Get());
  EXPECT_EQ(m.status().reason(), "checksum_mismatch");
  EXPECT_NE(m.status().message().find("weights.bin"), std::string::npos);
}

TEST(ModelLoaderTest, UnlistedExternalDataIsRefused) {
  std::string dir = CopyExtData("ext-unlisted");
  auto manifest = ParseManifest(ReadFile(dir + "/manifest.json").value());
  ASSERT_TRUE(manifest.ok());
  manifest->files.resize(1);
  ASSERT_TRUE(WriteFileAtomic(dir + "/manifest.json", SerializeManifest(*manifest)).ok());
  bool engine_made = false;
  auto m = LoadModelDir(
      dir,
      [&](const std::string&, std::string_view) -> StatusOr<std::unique_ptr<Engine>> {
        engine_made = true;
        return InternalError("unreachable");
      },
      RealClock::Get());
  EXPECT_EQ(m.status().reason(), "external_data_unlisted");
  EXPECT_NE(m.status().message().find("'weights.bin'"), std::string::npos);
  EXPECT_FALSE(engine_made);
}

TEST(ModelLoaderTest, ExternalDataBesideAModelInASubfolder) {
  std::string dir = testing::TempDir() + "/ext-sub";
  mkdir(dir.c_str(), 0755);
  mkdir((dir + "/m").c_str(), 0755);
  for (const char* f : {"model.onnx", "weights.bin"}) {
    ASSERT_TRUE(
        WriteFileAtomic(dir + "/m/" + f, ReadFile(Src("tests/models/extdata/") + f).value()).ok());
  }
  auto manifest = ParseManifest(ReadFile(Src("tests/models/extdata/manifest.json")).value());
  ASSERT_TRUE(manifest.ok());
  manifest->files[0].path = "m/model.onnx";
  manifest->files[1].path = "m/weights.bin";
  ASSERT_TRUE(WriteFileAtomic(dir + "/manifest.json", SerializeManifest(*manifest)).ok());
  auto m = LoadModelDir(dir, Ort(), RealClock::Get());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // Listed at the version's top instead: not the file the model reads.
  manifest->files[1].path = "weights.bin";
  ASSERT_TRUE(WriteFileAtomic(dir + "/weights.bin", "decoy").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/manifest.json", SerializeManifest(*manifest)).ok());
  EXPECT_EQ(LoadModelDir(dir, Ort(), RealClock::Get()).status().reason(), "external_data_unlisted");
}

TEST(ModelLoaderTest, ManifestBatchingOverridesTheOperators) {
  auto m = LoadModelDir(Src("tests/models/dynq"), Ort(), RealClock::Get());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->batch_dependent_ops, std::vector<std::string>{"DynamicQuantizeLinear"});
  EXPECT_FALSE(m->engine->merge_rows());
  std::string dir = testing::TempDir() + "/dynq-merge";
  mkdir(dir.c_str(), 0755);
  ASSERT_TRUE(
      WriteFileAtomic(dir + "/model.onnx", ReadFile(Src("tests/models/dynq/model.onnx")).value())
          .ok());
  auto manifest = ParseManifest(ReadFile(Src("tests/models/dynq/manifest.json")).value());
  ASSERT_TRUE(manifest.ok());
  manifest->merge_batches = true;
  ASSERT_TRUE(WriteFileAtomic(dir + "/manifest.json", SerializeManifest(*manifest)).ok());
  auto merged = LoadModelDir(dir, Ort(), RealClock::Get());
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_TRUE(merged->engine->merge_rows());
  auto digits = LoadModelDir(Src("examples/digits"), Ort(), RealClock::Get());
  ASSERT_TRUE(digits.ok());
  EXPECT_TRUE(digits->engine->merge_rows());
}

}  // namespace
}  // namespace modelfn
