#include "store/registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/files.h"
#include "store/faulty_store.h"
#include "store/local_store.h"
#include "store/memory_store.h"

namespace modelfn {
namespace {

// A model version folder on disk with its manifest.
struct Version {
  std::string dir;
  Manifest manifest;
  std::string json;
};

Version MakeVersion(const std::string& name, const std::string& version,
                    const std::string& model_bytes) {
  static int n = 0;
  Version v;
  v.dir = testing::TempDir() + "/regv-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  mkdir(v.dir.c_str(), 0755);
  EXPECT_TRUE(WriteFileAtomic(v.dir + "/model.onnx", model_bytes).ok());
  EXPECT_TRUE(WriteFileAtomic(v.dir + "/tokenizer.json", "{}").ok());
  ModelSchema schema;
  schema.inputs.push_back({"x", DType::kFp32, {-1}, {"N"}});
  schema.outputs.push_back({"y", DType::kFp32, {-1}, {"N"}});
  FakeClock clock;
  v.manifest =
      BuildManifest(v.dir, name, version, {"model.onnx", "tokenizer.json"}, schema, clock).value();
  v.json = SerializeManifest(v.manifest);
  return v;
}

class RegistryTest : public testing::Test {
 protected:
  MemoryStore mem_;
  FakeClock clock_;
  ModelRegistry reg_{&mem_, &clock_};
};

TEST_F(RegistryTest, PushPromoteResolveRollback) {
  Version v1 = MakeVersion("digits", "1.0.0", "model-one");
  Version v2 = MakeVersion("digits", "2.0.0", "model-two");
  auto p1 = reg_.Push(v1.dir, v1.manifest, v1.json, nullptr);
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();
  EXPECT_TRUE(p1->created);
  EXPECT_EQ(reg_.Resolve("digits", "").status().code(), StatusCode::kNotFound);  // no pointer yet
  EXPECT_EQ(reg_.Resolve("digits", "1.0.0")->manifest.files[0].sha256, v1.manifest.files[0].sha256);
  ASSERT_TRUE(reg_.Push(v2.dir, v2.manifest, v2.json, nullptr).ok());
  EXPECT_EQ(reg_.Versions("digits").value(), (std::vector<std::string>{"1.0.0", "2.0.0"}));
  EXPECT_EQ(reg_.Models().value(), (std::vector<std::string>{"digits"}));

  ASSERT_TRUE(reg_.Promote("digits", "1.0.0").ok());
  auto p = reg_.Promote("digits", "2.0.0");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->current.version, "2.0.0");
  ASSERT_EQ(p->history.size(), 1u);
  EXPECT_EQ(p->history[0].version, "1.0.0");
  auto r = reg_.Resolve("digits", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->version, "2.0.0");
  EXPECT_TRUE(r->via_pointer);

  auto back = reg_.Rollback("digits");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->current.version, "1.0.0");
  EXPECT_TRUE(back->history.empty());
  EXPECT_EQ(reg_.Resolve("digits", "")->version, "1.0.0");
  EXPECT_EQ(reg_.Rollback("digits").status().reason(), "no_history");
  EXPECT_EQ(reg_.Promote("digits", "9.9.9").status().code(), StatusCode::kNotFound);
}

TEST_F(RegistryTest, VersionsAreImmutableButPushIsIdempotent) {
  Version v1 = MakeVersion("m", "1", "bytes-a");
  ASSERT_TRUE(reg_.Push(v1.dir, v1.manifest, v1.json, nullptr).ok());
  auto again = reg_.Push(v1.dir, v1.manifest, v1.json, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  Version other = MakeVersion("m", "1", "bytes-b");
  EXPECT_EQ(reg_.Push(other.dir, other.manifest, other.json, nullptr).status().reason(),
            "version_exists");
}

TEST_F(RegistryTest, InterruptedPushLeavesNothingVisibleAndRetryCompletes) {
  Version v = MakeVersion("m", "1", "bytes");
  FaultyStore faulty(&mem_);
  ModelRegistry reg(&faulty, &clock_);
  faulty.FailAfter(2, UnavailableError("connection reset"));  // dies after the first file
  EXPECT_EQ(reg.Push(v.dir, v.manifest, v.json, nullptr).status().code(), StatusCode::kUnavailable);
  faulty.Heal();
  EXPECT_TRUE(reg.Versions("m")->empty());
  EXPECT_EQ(reg.Promote("m", "1").status().code(), StatusCode::kNotFound);
  auto retry = reg.Push(v.dir, v.manifest, v.json, nullptr);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_TRUE(retry->created);
  EXPECT_EQ(reg.Versions("m")->size(), 1u);
}

TEST_F(RegistryTest, TamperedManifestIsRefusedThroughThePointer) {
  Version v = MakeVersion("m", "1", "bytes");
  ASSERT_TRUE(reg_.Push(v.dir, v.manifest, v.json, nullptr).ok());
  ASSERT_TRUE(reg_.Promote("m", "1").ok());
  std::string key = ModelRegistry::VersionPrefix("m", "1") + "manifest.json";
  std::string json = mem_.Get(key).value();
  json.replace(json.find("\"size\":"), 8, "\"size\":9");
  mem_.Tamper(key, json);
  EXPECT_EQ(reg_.Resolve("m", "").status().reason(), "checksum_mismatch");
}

TEST_F(RegistryTest, VerifyFindsATamperedFile) {
  Version v = MakeVersion("m", "1", "bytes");
  ASSERT_TRUE(reg_.Push(v.dir, v.manifest, v.json, nullptr).ok());
  mem_.Tamper(ModelRegistry::VersionPrefix("m", "1") + "model.onnx", "bytez");
  auto r = reg_.Resolve("m", "1");
  ASSERT_TRUE(r.ok());
  auto checks = reg_.Verify(*r, testing::TempDir());
  ASSERT_TRUE(checks.ok());
  ASSERT_EQ(checks->size(), 2u);
  EXPECT_FALSE((*checks)[0].ok);
  EXPECT_TRUE((*checks)[1].ok);
}

TEST(RegistryLocalTest, ConcurrentPromotesHaveOneWinnerAndAValidPointer) {
  // A new folder each run: one named by the pid alone can be left by an earlier run whose pid
  // this one reuses, with the pointer of that run in it.
  std::string root = testing::TempDir() + "/reg-race-XXXXXX";
  ASSERT_NE(mkdtemp(root.data()), nullptr);
  LocalStore store(root);
  FakeClock clock;
  ModelRegistry reg(&store, &clock);
  std::vector<Version> versions;
  for (int i = 0; i < 8; ++i) {
    versions.push_back(MakeVersion("m", std::to_string(i), "bytes" + std::to_string(i)));
    ASSERT_TRUE(
        reg.Push(versions.back().dir, versions.back().manifest, versions.back().json, nullptr)
            .ok());
  }
  ASSERT_TRUE(reg.Promote("m", "0").ok());
  std::atomic<int> wins{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int i = 1; i < 8; ++i) {
    threads.emplace_back([&, i] {
      ModelRegistry own(&store, &clock);
      auto r = own.Promote("m", std::to_string(i));
      if (r.ok()) ++wins;
      if (!r.ok() && r.status().reason() == "promote_conflict") ++conflicts;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(wins.load(), 1);
  EXPECT_EQ(wins.load() + conflicts.load(), 7);
  auto resolved = reg.Resolve("m", "");
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();  // always a complete version
}

}  // namespace
}  // namespace modelfn
