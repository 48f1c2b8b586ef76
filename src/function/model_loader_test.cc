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

TEST(ModelLoaderTest, TamperedModelIsNeverLoaded) {
  std::string dir = CopyExample("tampered");
  std::string bytes = ReadFile(dir + "/model.onnx").value();
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(dir + "/model.onnx", bytes).ok());
  bool engine_made = false;
  auto m = LoadModelDir(
      dir,
      [&](const std::string&, std::string_view) -> StatusOr<std::unique_ptr<Engine>> {
        engine_made = true;
        return InternalError("unreachable");
      },
      RealClock::Get());
  EXPECT_EQ(m.status().reason(), "checksum_mismatch");
  EXPECT_FALSE(engine_made);
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

}  // namespace
}  // namespace modelfn
