#include "package/oci_image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"

namespace modelfn {
namespace {

class OciImageTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::TempDir() + "/oci_image_test_" + std::to_string(getpid());
    pkg_ = root_ + "/pkg";
    mkdir(root_.c_str(), 0755);
    mkdir(pkg_.c_str(), 0755);
    mkdir((pkg_ + "/model").c_str(), 0755);
    ASSERT_TRUE(WriteFileAtomic(pkg_ + "/bootstrap", "#!bootstrap").ok());
    chmod((pkg_ + "/bootstrap").c_str(), 0755);
    ASSERT_TRUE(WriteFileAtomic(pkg_ + "/model/manifest.json", "{}").ok());
  }
  void TearDown() override {
    std::string rm = "rm -rf '" + root_ + "'";
    ASSERT_EQ(system(rm.c_str()), 0);
  }

  // The blob a descriptor names, checked against its digest.
  std::string Blob(const std::string& layout, const Json& descriptor) {
    std::string digest = descriptor.Find("digest")->AsString();
    auto data = ReadFile(layout + "/blobs/sha256/" + digest.substr(7));
    EXPECT_TRUE(data.ok());
    EXPECT_EQ("sha256:" + Sha256Hex(*data), digest);
    return data.ok() ? *data : "";
  }

  // The image config of the layout's one manifest.
  Json Config(const std::string& layout) {
    auto index = Json::Parse(ReadFile(layout + "/index.json").value()).value();
    auto manifest = Json::Parse(Blob(layout, index.Find("manifests")->AsArray()[0])).value();
    return Json::Parse(Blob(layout, *manifest.Find("config"))).value();
  }

  std::string root_, pkg_;
};

TEST_F(OciImageTest, CloudRunImageStartsTheBootstrapWithTheModelInside) {
  auto r = BuildCloudRunImage(pkg_, root_ + "/out", "amd64", "");
  ASSERT_TRUE(r.ok()) << r.status().message();
  Json cfg = Config(root_ + "/out/oci");
  EXPECT_EQ(cfg.Find("architecture")->AsString(), "amd64");
  const Json& c = *cfg.Find("config");
  EXPECT_EQ(c.Find("Entrypoint")->AsArray()[0].AsString(), "/app/bootstrap");
  EXPECT_EQ(c.Find("Env")->AsArray()[0].AsString(), "MODELFN_MODEL=/app/model");
  EXPECT_EQ(c.Find("WorkingDir")->AsString(), "/app");
  std::string dockerfile = ReadFile(root_ + "/out/context/Dockerfile").value();
  EXPECT_NE(dockerfile.find("ENV MODELFN_MODEL=/app/model"), std::string::npos);
  EXPECT_TRUE(ReadFile(root_ + "/out/context/model/manifest.json").ok());
  EXPECT_GT(r->uncompressed_bytes, 0u);
}

TEST_F(OciImageTest, CloudRunImageNamesAStoreModel) {
  auto r = BuildCloudRunImage(pkg_, root_ + "/out", "arm64", "gs://models/team/digits@1.0.0");
  ASSERT_TRUE(r.ok());
  Json cfg = Config(root_ + "/out/oci");
  EXPECT_EQ(cfg.Find("architecture")->AsString(), "arm64");
  EXPECT_EQ(cfg.Find("config")->Find("Env")->AsArray()[0].AsString(),
            "MODELFN_MODEL=gs://models/team/digits@1.0.0");
}

TEST_F(OciImageTest, LambdaImageKeepsItsTaskRoot) {
  auto r = BuildLambdaImage(pkg_, root_ + "/out", "amd64");
  ASSERT_TRUE(r.ok());
  Json cfg = Config(root_ + "/out/oci");
  const Json& c = *cfg.Find("config");
  EXPECT_EQ(c.Find("Entrypoint")->AsArray()[0].AsString(), "/var/task/bootstrap");
  EXPECT_EQ(c.Find("Env")->AsArray()[0].AsString(), "LAMBDA_TASK_ROOT=/var/task");
}

TEST(TarDirectoryTest, PutsEveryFileUnderThePrefix) {
  std::string dir = testing::TempDir() + "/tar_test_" + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);
  ASSERT_TRUE(WriteFileAtomic(dir + "/a.txt", "hello").ok());
  auto tar = TarDirectory(dir, "app");
  ASSERT_TRUE(tar.ok());
  // ustar: a header names "app/" (the prefix folder) and then "app/a.txt".
  EXPECT_EQ(tar->compare(0, 4, "app/"), 0);
  EXPECT_EQ(tar->compare(512, 9, "app/a.txt"), 0);
  EXPECT_EQ(tar->size() % 512, 0u);
  std::string rm = "rm -rf '" + dir + "'";
  ASSERT_EQ(system(rm.c_str()), 0);
}

}  // namespace
}  // namespace modelfn
