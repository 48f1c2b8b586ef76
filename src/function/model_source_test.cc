#include "function/model_source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/files.h"
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

}  // namespace
}  // namespace modelfn
