#include "optimize/samples.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/files.h"
#include "common/json.h"

namespace modelfn {
namespace {

class SamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/samples-test-XXXXXX";
    ASSERT_NE(mkdtemp(t), nullptr);
    dir_ = t;
  }
  void TearDown() override { (void)system(("rm -rf " + dir_).c_str()); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string p = dir_ + "/" + name;
    EXPECT_TRUE(WriteFileAtomic(p, text).ok());
    return p;
  }
  std::string dir_;
};

TEST_F(SamplesTest, ReadsOneBodyAnArrayJsonLinesAndAFolderInNameOrder) {
  auto one = LoadSamples(Write("one.json", R"({"inputs": [[1, 2]]})"), 100);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->bodies, std::vector<std::string>{R"({"inputs":[[1,2]]})"});
  EXPECT_FALSE(one->synthetic);
  auto many = LoadSamples(Write("many.json", R"([{"inputs": [1]}, {"inputs": [2]}])"), 100);
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->bodies.size(), 2u);
  auto lines = LoadSamples(Write("l.jsonl", "{\"inputs\": [3]}\n\n{\"inputs\": [4]}"), 100);
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  EXPECT_EQ(lines->bodies, (std::vector<std::string>{R"({"inputs":[3]})", R"({"inputs":[4]})"}));
  auto folder = LoadSamples(dir_, 100);  // l.jsonl, many.json, one.json
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ(folder->bodies.front(), R"({"inputs":[3]})");
  EXPECT_EQ(folder->bodies.size(), 5u);
  auto capped = LoadSamples(dir_, 3);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->bodies.size(), 3u);
}

TEST_F(SamplesTest, BadSamplesNameTheFileAndLine) {
  auto s = LoadSamples(Write("bad.jsonl", "{\"inputs\": [1]}\n{\"inputs\": \n"), 10);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().reason(), "invalid_samples");
  EXPECT_NE(s.status().message().find("bad.jsonl:2"), std::string::npos) << s.status().message();
  auto arr = LoadSamples(Write("arr.json", "[1, 2]"), 10);
  ASSERT_FALSE(arr.ok());
  EXPECT_EQ(arr.status().reason(), "invalid_samples");
  EXPECT_EQ(LoadSamples(dir_ + "/none", 10).status().code(), StatusCode::kNotFound);
  char t[] = "/tmp/samples-empty-XXXXXX";
  ASSERT_NE(mkdtemp(t), nullptr);
  EXPECT_EQ(LoadSamples(t, 10).status().code(), StatusCode::kNotFound);
  rmdir(t);
}

TEST(SyntheticSamplesTest, MakesBodiesOfTheSchemasShapesAndTypes) {
  ModelSchema schema;
  schema.inputs.push_back(TensorSpec{"x", DType::kFp32, {-1, 3}, {"N", ""}});
  schema.inputs.push_back(TensorSpec{"ids", DType::kInt64, {2}, {""}});
  schema.inputs.push_back(TensorSpec{"flag", DType::kBool, {}, {}});
  auto s = SyntheticSamples(schema, false, 4, 7);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->synthetic);
  ASSERT_EQ(s->bodies.size(), 4u);
  auto body = Json::Parse(s->bodies[0]);
  ASSERT_TRUE(body.ok()) << s->bodies[0];
  const Json* in = body->Find("inputs");
  const Json& x = *in->Find("x");
  ASSERT_EQ(x.AsArray().size(), 1u);
  ASSERT_EQ(x.AsArray()[0].AsArray().size(), 3u);
  EXPECT_TRUE(x.AsArray()[0].AsArray()[0].is_number());
  ASSERT_EQ(in->Find("ids")->AsArray().size(), 2u);
  EXPECT_TRUE(in->Find("ids")->AsArray()[0].is_integral());
  EXPECT_TRUE(in->Find("flag")->is_bool());
  // The same seed gives the same samples; another seed others.
  EXPECT_EQ(SyntheticSamples(schema, false, 4, 7)->bodies, s->bodies);
  EXPECT_NE(SyntheticSamples(schema, false, 4, 8)->bodies, s->bodies);
}

TEST(SyntheticSamplesTest, NestsEveryDimension) {
  ModelSchema schema;
  schema.inputs.push_back(TensorSpec{"x", DType::kFp32, {2, 2, 3}, {"", "", ""}});
  auto s = SyntheticSamples(schema, false, 1, 1);
  ASSERT_TRUE(s.ok());
  auto body = Json::Parse(s->bodies[0]);
  ASSERT_TRUE(body.ok()) << s->bodies[0];
  const Json& x = *body->Find("inputs")->Find("x");
  ASSERT_EQ(x.AsArray().size(), 2u);
  for (const Json& a : x.AsArray()) {
    ASSERT_EQ(a.AsArray().size(), 2u);
    for (const Json& b : a.AsArray()) EXPECT_EQ(b.AsArray().size(), 3u);
  }
}

TEST(SyntheticSamplesTest, TextsImagesAndBytesCannotBeMadeUp) {
  ModelSchema schema;
  schema.inputs.push_back(TensorSpec{"x", DType::kFp32, {1}, {""}});
  EXPECT_EQ(SyntheticSamples(schema, true, 1, 1).status().reason(), "samples_needed");
  schema.inputs.push_back(TensorSpec{"s", DType::kBytes, {1}, {""}});
  EXPECT_EQ(SyntheticSamples(schema, false, 1, 1).status().reason(), "samples_needed");
}

}  // namespace
}  // namespace modelfn
