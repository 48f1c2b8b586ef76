#include "package/lambda_layer.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace modelfn {
namespace {

std::string Scratch(const std::string& name) {
  return std::string(MODELFN_BINARY_DIR) + "/lambda_layer_test." + name;
}

TEST(LambdaLayerTest, ModelZipHoldsTheVerifiedModelOnly) {
  const std::string out = Scratch("model.zip");
  auto r = BuildModelZip(std::string(MODELFN_SOURCE_DIR) + "/examples/digits", "", out);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->entries.empty());
  for (const auto& [name, size] : r->entries) EXPECT_EQ(name.rfind("model/", 0), 0u) << name;
  EXPECT_EQ(r->entries[0].first, "model/manifest.json");
  unlink(out.c_str());
}

TEST(LambdaLayerTest, StoreModelZipHoldsOnlyTheNote) {
  const std::string out = Scratch("note.zip");
  auto r = BuildModelZip("", "s3://models/prod/digits@1.0.0", out);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->entries.size(), 1u);
  EXPECT_EQ(r->entries[0].first, kModelSourceEntry);
  EXPECT_GT(r->entries[0].second, std::string("s3://models/prod/digits@1.0.0").size());
  unlink(out.c_str());
}

TEST(LambdaLayerTest, MismatchedModelFolderIsRefusedAndNothingIsLeft) {
  const std::string out = Scratch("bad.zip");
  auto r = BuildModelZip(std::string(MODELFN_SOURCE_DIR) + "/examples", "", out);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(access(out.c_str(), F_OK), 0);
}

TEST(LambdaLayerTest, LayerRefusesAModel) {
  LambdaZipOptions o;
  o.model_dir = "examples/digits";
  EXPECT_EQ(BuildLambdaLayer(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace modelfn
