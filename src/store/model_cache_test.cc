#include "store/model_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/files.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace modelfn {
namespace {

class CacheTest : public testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    root_ = testing::TempDir() + "/cache-" + std::to_string(getpid()) + "-" + std::to_string(n++);
    Push("m", "1", std::string(1000, 'a'));
  }
  ResolvedModel Push(const std::string& name, const std::string& version,
                     const std::string& bytes) {
    std::string dir = root_ + "-src-" + name + version;
    mkdir(dir.c_str(), 0755);
    EXPECT_TRUE(WriteFileAtomic(dir + "/model.onnx", bytes).ok());
    ModelSchema schema;
    schema.inputs.push_back({"x", DType::kFp32, {-1}, {"N"}});
    schema.outputs.push_back({"y", DType::kFp32, {-1}, {"N"}});
    Manifest m = BuildManifest(dir, name, version, {"model.onnx"}, schema, clock_).value();
    EXPECT_TRUE(reg_.Push(dir, m, SerializeManifest(m), nullptr).ok());
    return reg_.Resolve(name, version).value();
  }
  CacheOptions Options(uint64_t max = 1 << 30) { return CacheOptions{root_, max}; }

  std::string root_;
  FakeClock clock_;
  MemoryStore mem_;
  ModelRegistry reg_{&mem_, &clock_};
};

TEST_F(CacheTest, MissThenHitAcrossCacheObjects) {
  auto model = reg_.Resolve("m", "1").value();
  ModelCache a(Options(), &clock_);
  auto first = a.Fetch(mem_, "mem", model, nullptr);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->hit);
  EXPECT_EQ(first->bytes_downloaded, 1000u);
  EXPECT_EQ(ReadFile(first->dir + "/model.onnx").value(), std::string(1000, 'a'));
  EXPECT_EQ(ReadFile(first->dir + "/manifest.json").value(), model.manifest_bytes);
  ModelCache b(Options(), &clock_);  // another instance on the same host
  FaultyStore down(&mem_);
  down.FailAfter(0, UnavailableError("store down"));
  auto second = b.Fetch(down, "mem", model, nullptr);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->hit);
  EXPECT_EQ(second->dir, first->dir);
  EXPECT_EQ(down.calls(), 0);  // nothing downloaded again
  EXPECT_EQ(b.Lookup("mem", "m", "1").value(), first->dir);
  EXPECT_EQ(b.Lookup("other-store", "m", "1").status().code(), StatusCode::kNotFound);
}

TEST_F(CacheTest, TamperedOrTruncatedDownloadIsNeverCached) {
  auto model = reg_.Resolve("m", "1").value();
  ModelCache cache(Options(), &clock_);
  FaultyStore faulty(&mem_);
  faulty.CorruptReads(true);
  EXPECT_EQ(cache.Fetch(faulty, "mem", model, nullptr).status().reason(), "checksum_mismatch");
  faulty.CorruptReads(false);
  faulty.TruncateReads(true);
  EXPECT_EQ(cache.Fetch(faulty, "mem", model, nullptr).status().reason(), "checksum_mismatch");
  EXPECT_EQ(cache.Lookup("mem", "m", "1").status().code(), StatusCode::kNotFound);
  faulty.TruncateReads(false);
  faulty.FailAfter(0, UnavailableError("connection reset"));
  EXPECT_EQ(cache.Fetch(faulty, "mem", model, nullptr).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(cache.Lookup("mem", "m", "1").status().code(), StatusCode::kNotFound);
  faulty.Heal();
  EXPECT_TRUE(cache.Fetch(faulty, "mem", model, nullptr).ok());
}

TEST_F(CacheTest, EvictsLeastRecentlyUsedToFitTheBound) {
  auto m1 = reg_.Resolve("m", "1").value();
  auto m2 = Push("m", "2", std::string(1000, 'b'));
  auto m3 = Push("m", "3", std::string(1000, 'c'));
  // Room for two entries: model, manifest.json and the .complete marker each.
  uint64_t entry = 1000 + m1.manifest_bytes.size() + 65;
  ModelCache cache(Options(2 * entry + entry / 2), &clock_);
  auto e1 = cache.Fetch(mem_, "mem", m1, nullptr).value();
  usleep(20000);
  auto e2 = cache.Fetch(mem_, "mem", m2, nullptr).value();
  usleep(20000);
  ASSERT_TRUE(cache.Fetch(mem_, "mem", m1, nullptr)->hit);  // m1 used again: m2 is now oldest
  usleep(20000);
  auto e3 = cache.Fetch(mem_, "mem", m3, nullptr).value();
  EXPECT_TRUE(cache.Lookup("mem", "m", "1").ok());
  EXPECT_EQ(cache.Lookup("mem", "m", "2").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(cache.Lookup("mem", "m", "3").ok());
}

TEST_F(CacheTest, ConcurrentFillersShareOneEntry) {
  auto model = reg_.Resolve("m", "1").value();
  std::vector<std::thread> threads;
  std::vector<std::string> dirs(6);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      ModelCache c(Options(), &clock_);
      auto r = c.Fetch(mem_, "mem", model, nullptr);
      if (r.ok()) dirs[static_cast<size_t>(i)] = r->dir;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& d : dirs) EXPECT_EQ(d, dirs[0]);
  EXPECT_EQ(ReadFile(dirs[0] + "/model.onnx").value(), std::string(1000, 'a'));
}

TEST_F(CacheTest, RemembersThePointer) {
  ModelCache cache(Options(), &clock_);
  EXPECT_EQ(cache.RecallPointer("mem", "m").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(cache.RememberPointer("mem", "m", {"1", std::string(64, 'a')}).ok());
  EXPECT_EQ(cache.RecallPointer("mem", "m")->version, "1");
}

}  // namespace
}  // namespace modelfn
