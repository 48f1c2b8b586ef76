#include "common/files.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

namespace modelfn {
namespace {

TEST(FilesTest, AtomicWriteReplacesAndLeavesNoTemp) {
  std::string dir = testing::TempDir() + "/files_test_dir";
  mkdir(dir.c_str(), 0755);
  std::string path = dir + "/f.json";
  ASSERT_TRUE(WriteFileAtomic(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two").ok());
  EXPECT_EQ(ReadFile(path).value(), "two");
  int entries = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) entries += e->d_name[0] != '.';
  closedir(d);
  EXPECT_EQ(entries, 1);
}

TEST(FilesTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadFile("/nonexistent/x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(WriteFileAtomic("/nonexistent/dir/x", "a").code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace modelfn

namespace modelfn {
namespace {

TEST(FilesTest, SplitPathListDropsEmptyEntries) {
  EXPECT_EQ(SplitPathList("/a::/b:"), (std::vector<std::string>{"/a", "/b"}));
  EXPECT_TRUE(SplitPathList("").empty());
}

TEST(FilesTest, NormalizePathIsLexical) {
  EXPECT_EQ(NormalizePath("/a//b/./c/../d/"), "/a/b/d");
  EXPECT_EQ(NormalizePath("/../x"), "/x");
  EXPECT_EQ(NormalizePath("a/../../b"), "../b");
  EXPECT_EQ(NormalizePath("./"), ".");
  EXPECT_EQ(NormalizePath("/"), "/");
}

}  // namespace
}  // namespace modelfn
