#include "faces/local_buckets.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/files.h"

namespace modelfn {
namespace {

TEST(LocalBucketsTest, OnlyNamesWithAnAbsoluteFolderCount) {
  auto m = ParseLocalBuckets("uploads=/srv/up,bad,rel=./x,=/nameless,also=/a/b,empty=");
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m["uploads"], "/srv/up");
  EXPECT_EQ(m["also"], "/a/b");
  EXPECT_TRUE(ParseLocalBuckets("").empty());
}

TEST(LocalBucketsTest, NamedBucketsAreFoldersAndOthersGoToTheCloud) {
  char dir[] = "/tmp/local-buckets-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  ASSERT_TRUE(WriteFileAtomic(std::string(dir) + "/in.jsonl", "[1]\n").ok());
  std::vector<std::string> cloud_asked;
  BucketOpener cloud = [&](const std::string& b) -> StatusOr<std::unique_ptr<ObjectStore>> {
    cloud_asked.push_back(b);
    return Status(StatusCode::kUnavailable, "no cloud here");
  };
  auto env = [&](const std::string& k) -> std::optional<std::string> {
    if (k == "MODELFN_LOCAL_BUCKETS") return "uploads=" + std::string(dir);
    return std::nullopt;
  };
  BucketOpener open = WithLocalBuckets(env, cloud);
  auto store = open("uploads");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Get("in.jsonl").value(), "[1]\n");
  EXPECT_FALSE(open("other").ok());
  EXPECT_EQ(cloud_asked, std::vector<std::string>{"other"});
  (void)system(("rm -rf " + std::string(dir)).c_str());
}

}  // namespace
}  // namespace modelfn
