#include "common/build_info.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace modelfn {
namespace {

TEST(BuildInfoTest, TheVersionNamesTheBuild) {
  const BuildInfo& b = GetBuildInfo();
  EXPECT_FALSE(b.version.empty());
  EXPECT_NE(b.version, "0.0.0");  // the project's version reached the build
  EXPECT_FALSE(b.git_revision.empty());
  EXPECT_NE(b.build_type, "unknown");
  std::string text = VersionText("modelfn-fn", "1.30.0");
  EXPECT_EQ(text.rfind("modelfn-fn " + b.version + " (git " + b.git_revision, 0), 0u) << text;
  EXPECT_NE(text.find("ONNX Runtime 1.30.0"), std::string::npos);
  EXPECT_EQ(VersionText("x", "").find("ONNX"), std::string::npos);
  auto doc = Json::Parse(VersionJson("modelfn", "1.30.0"));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("onnxruntime")->AsString(), "1.30.0");
  EXPECT_EQ(doc->Find("git_revision")->AsString(), b.git_revision);
}

TEST(BuildInfoTest, VersionFlags) {
  bool json;
  const char* a[] = {"modelfn", "--version", "--json"};
  EXPECT_TRUE(WantsVersion(3, const_cast<char**>(a), &json));
  EXPECT_TRUE(json);
  const char* b[] = {"modelfn", "up"};
  EXPECT_FALSE(WantsVersion(2, const_cast<char**>(b), &json));
}

}  // namespace
}  // namespace modelfn
