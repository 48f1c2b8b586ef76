#include "store/local_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/files.h"
#include "store/memory_store.h"

namespace modelfn {
namespace {

// A new folder's path each call: a pid-named one could be left by an earlier run whose pid this
// run reuses (then a symlink() into it fails with EEXIST).
std::string Fresh(const std::string& name) {
  std::string dir = testing::TempDir() + "/" + name + "-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return dir;
  rmdir(dir.c_str());  // the store creates it
  return dir;
}

// The same contract checks run against the local backend and the in-memory fake.
void ExerciseContract(ObjectStore& s) {
  EXPECT_EQ(s.Get("a/b.txt").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.Head("a/b.txt").status().code(), StatusCode::kNotFound);
  auto put = s.Put("a/b.txt", "hello", PutOptions());
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(s.Get("a/b.txt").value(), "hello");
  EXPECT_EQ(s.Head("a/b.txt")->size, 5u);
  EXPECT_EQ(s.Head("a/b.txt")->etag, put->etag);

  PutOptions if_absent;
  if_absent.condition = PutOptions::Condition::kIfAbsent;
  EXPECT_EQ(s.Put("a/b.txt", "x", if_absent).status().reason(), "precondition_failed");
  EXPECT_EQ(s.Get("a/b.txt").value(), "hello");
  EXPECT_TRUE(s.Put("a/c.txt", "x", if_absent).ok());

  PutOptions if_match;
  if_match.condition = PutOptions::Condition::kIfMatch;
  if_match.if_match = put->etag;
  auto swapped = s.Put("a/b.txt", "world", if_match);
  ASSERT_TRUE(swapped.ok()) << swapped.status().ToString();
  EXPECT_NE(swapped->etag, put->etag);
  EXPECT_EQ(s.Put("a/b.txt", "stale", if_match).status().reason(), "precondition_failed");
  EXPECT_EQ(s.Get("a/b.txt").value(), "world");

  ASSERT_TRUE(s.Put("z/other", "1", PutOptions()).ok());
  auto listed = s.List("a/");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].key, "a/b.txt");
  EXPECT_EQ((*listed)[1].key, "a/c.txt");
  EXPECT_EQ(s.List("")->size(), 3u);

  std::string file = testing::TempDir() + "/contract-" + std::to_string(getpid());
  ASSERT_TRUE(s.GetToFile("a/b.txt", file, nullptr).ok());
  EXPECT_EQ(ReadFile(file).value(), "world");
  ASSERT_TRUE(s.PutFile("f/copy", file, PutOptions()).ok());
  EXPECT_EQ(s.Get("f/copy").value(), "world");

  EXPECT_TRUE(s.Delete("a/c.txt").ok());
  EXPECT_TRUE(s.Delete("a/c.txt").ok());
  EXPECT_EQ(s.List("a/")->size(), 1u);
}

TEST(LocalStoreTest, Contract) {
  LocalStore s(Fresh("local-contract"));
  ExerciseContract(s);
}

TEST(MemoryStoreTest, Contract) {
  MemoryStore s;
  ExerciseContract(s);
}

TEST(LocalStoreTest, ConcurrentConditionalSwapsHaveOneWinner) {
  LocalStore s(Fresh("local-race"));
  auto first = s.Put("p/current.json", "v0", PutOptions());
  ASSERT_TRUE(first.ok());
  std::atomic<int> wins{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      PutOptions o;
      o.condition = PutOptions::Condition::kIfMatch;
      o.if_match = first->etag;
      auto r = s.Put("p/current.json", "v" + std::to_string(i + 1), o);
      if (r.ok()) {
        ++wins;
      } else if (r.status().reason() == "precondition_failed") {
        ++conflicts;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(conflicts.load(), 15);
  EXPECT_EQ(s.List("p/")->size(), 1u);  // no temp or lock files visible
}

TEST(LocalStoreTest, ReadsWhileTheObjectIsReplacedSeeOneWholeVersion) {
  // The safety check of a read (is the opened file the one the name leads to, inside the store)
  // must not mistake a concurrent replacement for a symlink out of the store.
  LocalStore s(Fresh("local-replace"));
  ASSERT_TRUE(s.Put("p/current.json", "v-0", PutOptions()).ok());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 3000 && !done.load(); ++i) {
      ASSERT_TRUE(s.Put("p/current.json", "v-" + std::to_string(i % 10), PutOptions()).ok());
    }
    done = true;
  });
  int reads = 0;
  std::string failure;
  while (!done.load() && failure.empty()) {
    auto got = s.Get("p/current.json");
    if (!got.ok()) {
      failure = got.status().ToString();
    } else if (got->size() != 3 || got->rfind("v-", 0) != 0) {
      failure = "torn read: " + *got;
    }
    ++reads;
  }
  done = true;
  writer.join();
  EXPECT_EQ(failure, "") << "after " << reads << " reads";
}

TEST(LocalStoreTest, EveryReplacementHasANewEtag) {
  // The etag guards If-Match: two versions of the same size written within one tick of the
  // file system's clock, in a reused inode, must still differ.
  LocalStore s(Fresh("local-etags"));
  std::set<std::string> etags;
  for (int i = 0; i < 300; ++i) {
    auto put = s.Put("p/current.json", i % 2 ? "odd" : "eve", PutOptions());
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_TRUE(etags.insert(put->etag).second) << "etag " << put->etag << " repeated at " << i;
  }
}

TEST(LocalStoreTest, AWriteRemovesTheTempFilesOfKilledWriters) {
  std::string root = Fresh("local-stale");
  LocalStore s(root);
  ASSERT_TRUE(s.Put("m/versions/1/a", "x", PutOptions()).ok());
  std::string dir = root + "/m/versions/1";
  std::string stale = dir + "/.modelfn-tmp-99999-0", live = dir + "/.modelfn-tmp-99999-1";
  ASSERT_TRUE(WriteFileAtomic(stale, "half a model").ok());
  ASSERT_TRUE(WriteFileAtomic(live, "being written").ok());
  struct timespec old[2];
  old[0].tv_sec = old[1].tv_sec = time(nullptr) - 2 * 3600;
  old[0].tv_nsec = old[1].tv_nsec = 0;
  ASSERT_EQ(utimensat(AT_FDCWD, stale.c_str(), old, 0), 0);
  ASSERT_TRUE(s.Put("m/versions/1/b", "y", PutOptions()).ok());
  EXPECT_NE(access(stale.c_str(), F_OK), 0) << "an hour-old temp file is left";
  EXPECT_EQ(access(live.c_str(), F_OK), 0) << "a recent temp file (a live writer's) is removed";
  EXPECT_EQ(s.List("m/")->size(), 2u);
}

TEST(LocalStoreTest, ReadingAMissingStoreCreatesNothing) {
  std::string root = Fresh("local-missing") + "/a/b";
  LocalStore s(root);
  EXPECT_EQ(s.Get("m/1/model.onnx").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.Head("m/current.json").status().code(), StatusCode::kNotFound);
  auto listed = s.List("");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_TRUE(listed->empty());
  struct stat st;
  EXPECT_NE(stat(root.c_str(), &st), 0);
  // The first write makes the folders.
  ASSERT_TRUE(s.Put("m/1/model.onnx", "x", PutOptions()).ok());
  EXPECT_EQ(s.Get("m/1/model.onnx").value(), "x");
  PutOptions swap;
  swap.condition = PutOptions::Condition::kIfMatch;
  swap.if_match = "none";
  EXPECT_EQ(LocalStore(Fresh("local-missing-2") + "/c").Put("k", "v", swap).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(LocalStoreTest, RejectsEscapingKeys) {
  LocalStore s(Fresh("local-keys"));
  for (const char* k : {"../x", "/abs", "a/../../b", ".modelfn-locks/x", ""}) {
    EXPECT_EQ(s.Put(k, "x", PutOptions()).status().code(), StatusCode::kInvalidArgument) << k;
  }
}

TEST(LocalStoreTest, ReadsOnlyRegularFilesInsideTheStore) {
  std::string base = Fresh("local-links");
  std::string root = base + "/store";
  LocalStore s(root);
  ASSERT_TRUE(s.Put("m/v/inside.bin", "inside", PutOptions()).ok());
  ASSERT_TRUE(WriteFileAtomic(base + "/secret.txt", "secret").ok());
  ASSERT_EQ(symlink((base + "/secret.txt").c_str(), (root + "/m/v/out.bin").c_str()), 0);
  ASSERT_EQ(symlink(base.c_str(), (root + "/m/outdir").c_str()), 0);
  ASSERT_EQ(symlink((root + "/m/v/inside.bin").c_str(), (root + "/m/v/in.bin").c_str()), 0);
  ASSERT_EQ(mkfifo((root + "/m/v/fifo.bin").c_str(), 0600), 0);
  std::string dest = base + "/dest.bin";
  for (const char* key : {"m/v/out.bin", "m/outdir/secret.txt", "m/v/fifo.bin", "m/v"}) {
    auto got = s.Get(key);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(got.status().reason(), "unsafe_store_object") << key;
    auto copied = s.GetToFile(key, dest, nullptr);
    EXPECT_EQ(copied.status().code(), StatusCode::kInvalidArgument) << key;
  }
  // A link that stays inside the store, and a store reached through a link, still work.
  EXPECT_EQ(s.Get("m/v/in.bin").value(), "inside");
  ASSERT_EQ(symlink(root.c_str(), (base + "/alias").c_str()), 0);
  LocalStore alias(base + "/alias");
  EXPECT_EQ(alias.Get("m/v/inside.bin").value(), "inside");
  ASSERT_TRUE(alias.GetToFile("m/v/inside.bin", dest, nullptr).ok());
  EXPECT_EQ(ReadFile(dest).value(), "inside");
}

}  // namespace
}  // namespace modelfn
