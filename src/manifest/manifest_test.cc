#include "manifest/manifest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/files.h"

namespace modelfn {
namespace {

ModelSchema DigitsSchema() {
  ModelSchema s;
  s.inputs.push_back({"pixels", DType::kFp32, {-1, 64}, {"N", ""}});
  s.outputs.push_back({"label", DType::kInt64, {-1}, {"N"}});
  return s;
}

std::string MakeDir(const std::string& name, const std::string& model_bytes) {
  std::string dir = testing::TempDir() + "/" + name;
  mkdir(dir.c_str(), 0755);
  EXPECT_TRUE(WriteFileAtomic(dir + "/model.onnx", model_bytes).ok());
  return dir;
}

TEST(ManifestTest, BuildSerializeParseRoundTrip) {
  std::string dir = MakeDir("m1", "model-bytes");
  FakeClock clock;
  auto m = BuildManifest(dir, "digits", "1.0.0", {"model.onnx"}, DigitsSchema(), clock);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::string text = SerializeManifest(*m);
  EXPECT_NE(text.find("\"shape\":[\"N\",64]"), std::string::npos) << text;
  auto back = ParseManifest(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, "digits");
  EXPECT_EQ(back->files[0].size, 11u);
  EXPECT_EQ(back->files[0].sha256, m->files[0].sha256);
  EXPECT_EQ(back->schema.inputs[0].shape, (std::vector<int64_t>{-1, 64}));
  EXPECT_EQ(back->schema.inputs[0].dim_params[0], "N");
  EXPECT_EQ(SerializeManifest(*back), text);
  EXPECT_TRUE(VerifyFiles(*back, dir).ok());
  EXPECT_TRUE(CheckSchemaMatches(*back, DigitsSchema()).ok());
}

TEST(ManifestTest, TamperedOrTruncatedFileIsChecksumMismatch) {
  std::string dir = MakeDir("m2", "model-bytes");
  FakeClock clock;
  auto m = BuildManifest(dir, "digits", "1", {"model.onnx"}, DigitsSchema(), clock);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/model.onnx", "model-bytez").ok());
  Status s = VerifyFiles(*m, dir);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.reason(), "checksum_mismatch");
  ASSERT_TRUE(WriteFileAtomic(dir + "/model.onnx", "model").ok());
  EXPECT_EQ(VerifyFiles(*m, dir).reason(), "checksum_mismatch");
  unlink((dir + "/model.onnx").c_str());
  EXPECT_EQ(VerifyFiles(*m, dir).code(), StatusCode::kNotFound);
}

TEST(ManifestTest, RejectsInvalidDocuments) {
  const char* bad[] = {
      "[]",
      R"({"name":"Digits","version":"1","files":[{"path":"m","sha256":"00","size":1}],"inputs":[],"outputs":[]})",
      R"({"name":"d","version":"1/2","files":[],"inputs":[],"outputs":[]})",
      R"({"name":"d","version":"1","files":[],"inputs":[],"outputs":[]})",
      R"({"name":"d","version":"1","files":[{"path":"../x","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}],"inputs":[],"outputs":[]})",
      R"({"name":"d","version":"1","framework":"tf","files":[{"path":"m","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}],"inputs":[],"outputs":[]})",
      R"({"name":"d","version":"1","files":[{"path":"m","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}],"inputs":[{"name":"x","datatype":"FLOAT","shape":[1]}],"outputs":[]})",
      R"({"name":"d","version":"1","files":[{"path":"m","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":-1}],"inputs":[],"outputs":[]})",
      R"({"name":"d","version":"1","files":[{"path":"m","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}],"inputs":[],"outputs":[{"name":"y","datatype":"FP32","shape":[1]},{"name":"y","datatype":"FP16","shape":[1]}]})",
      "{not json",
  };
  for (const char* text : bad) {
    auto m = ParseManifest(text);
    EXPECT_FALSE(m.ok()) << text;
    if (!m.ok()) {
      EXPECT_EQ(m.status().reason(), "invalid_manifest") << m.status().message();
    }
  }
}

TEST(ManifestTest, SchemaMismatchIsReported) {
  Manifest m;
  m.schema = DigitsSchema();
  ModelSchema other = DigitsSchema();
  other.inputs[0].dtype = DType::kFp64;
  EXPECT_EQ(CheckSchemaMatches(m, other).reason(), "manifest_mismatch");
  other = DigitsSchema();
  other.outputs.push_back({"p", DType::kFp32, {-1, 10}, {"N", ""}});
  EXPECT_EQ(CheckSchemaMatches(m, other).reason(), "manifest_mismatch");
}

TEST(ManifestTest, NamesAndVersions) {
  EXPECT_TRUE(ValidateModelName("breast_cancer").ok());
  EXPECT_TRUE(ValidateModelName("a.b-c").ok());
  EXPECT_FALSE(ValidateModelName("").ok());
  EXPECT_FALSE(ValidateModelName("-x").ok());
  EXPECT_FALSE(ValidateModelName("a/b").ok());
  EXPECT_FALSE(ValidateModelName(std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateVersion("1.2.0+build.7").ok());
  EXPECT_FALSE(ValidateVersion("..").ok());
  EXPECT_FALSE(ValidateVersion("1 2").ok());
}

TEST(ManifestTest, BatchingMergeRoundTripsAndIsChecked) {
  std::string base = R"({"name":"m","version":"1","files":[{"path":"model.onnx","sha256":")" +
                     std::string(64, 'a') + R"(","size":1}],"inputs":[],"outputs":[])";
  auto none = ParseManifest(base + "}");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->merge_batches.has_value());
  EXPECT_EQ(SerializeManifest(*none).find("batching"), std::string::npos);
  auto off = ParseManifest(base + R"(,"batching":{"merge":false}})");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->merge_batches, std::optional<bool>(false));
  auto back = ParseManifest(SerializeManifest(*off));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->merge_batches, std::optional<bool>(false));
  for (const char* bad : {R"(,"batching":true})", R"(,"batching":{"merge":"no"}})"}) {
    EXPECT_EQ(ParseManifest(base + bad).status().reason(), "invalid_manifest") << bad;
  }
}

TEST(ManifestTest, InputLimitsRoundTripAndAreChecked) {
  std::string head = R"({"name":"m","version":"1","files":[{"path":"model.onnx","sha256":")" +
                     std::string(64, 'a') + R"(","size":1}],"outputs":[],"inputs":[)";
  auto m = ParseManifest(
      head + R"({"name":"ids","datatype":"INT64","shape":["N","S"],"max_shape":[null,8],)" +
      R"("range":[0,9]},{"name":"x","datatype":"FP32","shape":[2]}]})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->input_limits.size(), 1u);
  EXPECT_EQ(m->input_limits[0].input, "ids");
  EXPECT_EQ(m->input_limits[0].max_shape, (std::vector<int64_t>{-1, 8}));
  EXPECT_TRUE(m->input_limits[0].has_range);
  EXPECT_EQ(m->input_limits[0].max, 9);
  auto back = ParseManifest(SerializeManifest(*m));
  ASSERT_TRUE(back.ok()) << SerializeManifest(*m);
  EXPECT_EQ(back->input_limits[0].max_shape, m->input_limits[0].max_shape);
  EXPECT_EQ(back->input_limits[0].min, 0);
  for (const char* bad : {
           R"({"name":"ids","datatype":"INT64","shape":["N","S"],"max_shape":[8]}]})",
           R"({"name":"ids","datatype":"INT64","shape":["N"],"max_shape":[-2]}]})",
           R"({"name":"ids","datatype":"INT64","shape":["N"],"range":[9,0]}]})",
           R"({"name":"ids","datatype":"INT64","shape":["N"],"range":[0]}]})",
           R"({"name":"s","datatype":"BYTES","shape":["N"],"range":[0,1]}]})",
       }) {
    EXPECT_EQ(ParseManifest(head + bad).status().reason(), "invalid_manifest") << bad;
  }
}

}  // namespace
}  // namespace modelfn
