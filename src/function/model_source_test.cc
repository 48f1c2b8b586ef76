#include "function/model_source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/files.h"
#include "engine/ort_engine.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace modelfn {
namespace {

class SourceTest : public testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    base_ = testing::TempDir() + "/src-" + std::to_string(getpid()) + "-" + std::to_string(n++);
    mkdir(base_.c_str(), 0755);
    for (const char* v : {"1", "2"}) {
      std::string dir = base_ + "/v" + v;
      mkdir(dir.c_str(), 0755);
      EXPECT_TRUE(WriteFileAtomic(dir + "/model.onnx", std::string("model-") + v).ok());
      ModelSchema schema;
      schema.inputs.push_back({"x", DType::kFp32, {-1}, {"N"}});
      schema.outputs.push_back({"y", DType::kFp32, {-1}, {"N"}});
      Manifest m = BuildManifest(dir, "m", v, {"model.onnx"}, schema, clock_).value();
      EXPECT_TRUE(reg_.Push(dir, m, SerializeManifest(m), nullptr).ok());
    }
    EXPECT_TRUE(reg_.Promote("m", "1").ok());
  }
  CacheOptions Options() { return CacheOptions{base_ + "/cache", 1 << 30}; }

  std::string base_;
  FakeClock clock_;
  MemoryStore mem_;
  ModelRegistry reg_{&mem_, &clock_};
};

TEST_F(SourceTest, PointerMissThenHitThenOfflineAfterThePointerMoved) {
  ModelCache cache(Options(), &clock_);
  auto a = FetchModel(mem_, "mem", cache, "m", "", clock_);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->cache, "miss");
  EXPECT_EQ(a->version, "1");
  EXPECT_EQ(ReadFile(a->dir + "/model.onnx").value(), "model-1");
  auto b = FetchModel(mem_, "mem", cache, "m", "", clock_);
  EXPECT_EQ(b->cache, "hit");
  FaultyStore down(&mem_);
  down.FailAfter(0, UnavailableError("connection refused"));
  auto c = FetchModel(down, "mem", cache, "m", "", clock_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cache, "offline");
  EXPECT_EQ(c->version, "1");
  EXPECT_NE(c->warning.find("connection refused"), std::string::npos);
}

TEST_F(SourceTest, OfflineWithoutACachedCopyIsAnError) {
  ModelCache cache(Options(), &clock_);
  FaultyStore down(&mem_);
  down.FailAfter(0, UnavailableError("connection refused"));
  auto r = FetchModel(down, "mem", cache, "m", "2", clock_);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("no cached copy of m@2"), std::string::npos);
}

TEST_F(SourceTest, TamperedObjectIsNeverServedEvenIfCachedOnesExist) {
  ModelCache cache(Options(), &clock_);
  ASSERT_TRUE(FetchModel(mem_, "mem", cache, "m", "1", clock_).ok());
  mem_.Tamper(ModelRegistry::VersionPrefix("m", "2") + "model.onnx", "evil");
  auto r = FetchModel(mem_, "mem", cache, "m", "2", clock_);
  EXPECT_EQ(r.status().reason(), "checksum_mismatch");  // not an offline fallback to something else
}

TEST_F(SourceTest, UnknownVersionIsNotFound) {
  ModelCache cache(Options(), &clock_);
  EXPECT_EQ(FetchModel(mem_, "mem", cache, "m", "7", clock_).status().code(),
            StatusCode::kNotFound);
}

// A real model (tests/models/add2) in the store, cached, then damaged on this host's disk.
class CorruptCacheTest : public SourceTest {
 protected:
  void SetUp() override {
    SourceTest::SetUp();
    std::string src = std::string(MODELFN_SOURCE_DIR) + "/tests/models/add2";
    Manifest m = ParseManifest(ReadFile(src + "/manifest.json").value()).value();
    m.name = "add2";
    ASSERT_TRUE(reg_.Push(src, m, SerializeManifest(m), nullptr).ok());
  }
  static EngineFactory Ort() {
    return [](const std::string& p, std::string_view b) -> StatusOr<std::unique_ptr<Engine>> {
      ASSIGN_OR_RETURN(auto e, OrtEngine::LoadFromBytes(b, p, OrtEngineOptions()));
      return std::unique_ptr<Engine>(std::move(e));
    };
  }
  StatusOr<LoadedModel> Load(ObjectStore& store, ModelCache& cache, FetchedModel* f) {
    return FetchAndLoadModel(store, "mem", cache, "add2", "1", Ort(), clock_, f);
  }
};

TEST_F(CorruptCacheTest, CorruptEntryIsDetectedOnUseAndFetchedAgain) {
  ModelCache cache(Options(), &clock_);
  FetchedModel f;
  ASSERT_TRUE(Load(mem_, cache, &f).ok());
  EXPECT_EQ(f.cache, "miss");
  std::string path = f.dir + "/model.onnx";
  std::string good = ReadFile(path).value();
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x20;
  ASSERT_TRUE(WriteFileAtomic(path, bad).ok());
  FetchedModel again;
  auto loaded = Load(mem_, cache, &again);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(again.cache, "miss");
  EXPECT_NE(again.warning.find("failed verification"), std::string::npos) << again.warning;
  EXPECT_EQ(ReadFile(again.dir + "/model.onnx").value(), good);
  FetchedModel third;
  ASSERT_TRUE(Load(mem_, cache, &third).ok());
  EXPECT_EQ(third.cache, "hit");
  EXPECT_TRUE(third.warning.empty());
}

TEST_F(CorruptCacheTest, MissingFileInEntryIsFetchedAgain) {
  ModelCache cache(Options(), &clock_);
  FetchedModel f;
  ASSERT_TRUE(Load(mem_, cache, &f).ok());
  ASSERT_EQ(unlink((f.dir + "/model.onnx").c_str()), 0);
  FetchedModel again;
  ASSERT_TRUE(Load(mem_, cache, &again).ok());
  EXPECT_EQ(again.cache, "miss");
}

TEST_F(CorruptCacheTest, CorruptEntryWhileOfflineFailsAndIsDropped) {
  ModelCache cache(Options(), &clock_);
  FetchedModel f;
  ASSERT_TRUE(Load(mem_, cache, &f).ok());
  ASSERT_TRUE(WriteFileAtomic(f.dir + "/model.onnx", "garbage").ok());
  FaultyStore down(&mem_);
  down.FailAfter(0, UnavailableError("connection refused"));
  FetchedModel offline;
  auto r = Load(down, cache, &offline);
  EXPECT_EQ(r.status().reason(), "checksum_mismatch");
  struct stat st;
  EXPECT_NE(stat(f.dir.c_str(), &st), 0);  // gone: the next start with the store up downloads
  FetchedModel back;
  ASSERT_TRUE(Load(mem_, cache, &back).ok());
  EXPECT_EQ(back.cache, "miss");
}

TEST_F(CorruptCacheTest, InvalidateRefusesFoldersOutsideTheCache) {
  ModelCache cache(Options(), &clock_);
  EXPECT_FALSE(cache.Invalidate(base_).ok());
  EXPECT_FALSE(cache.Invalidate(Options().root + "/a/b/../../../x").ok());
  EXPECT_FALSE(cache.Invalidate(Options().root + "/a").ok());
}

}  // namespace
}  // namespace modelfn
