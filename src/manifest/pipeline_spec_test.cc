#include "manifest/pipeline_spec.h"

#include <gtest/gtest.h>

#include "manifest/manifest.h"

namespace modelfn {
namespace {

constexpr const char* kSha = "0000000000000000000000000000000000000000000000000000000000000000";

StatusOr<PipelineSpec> Parse(const std::string& json) {
  auto doc = Json::Parse(json);
  EXPECT_TRUE(doc.ok()) << json;
  return ParsePipeline(*doc);
}

std::string ManifestWith(const std::string& pipeline, bool list_labels) {
  std::string files =
      std::string("[{\"path\":\"model.onnx\",\"sha256\":\"") + kSha + "\",\"size\":1}" +
      (list_labels
           ? std::string(",{\"path\":\"labels.txt\",\"sha256\":\"") + kSha + "\",\"size\":1}"
           : std::string()) +
      "]";
  return R"({"name":"m","version":"1","files":)" + files +
         R"(,"inputs":[{"name":"x","datatype":"FP32","shape":["N",4]}],)"
         R"("outputs":[{"name":"logits","datatype":"FP32","shape":["N",3]}],"pipeline":)" +
         pipeline + "}";
}

ModelSchema ClassifierSchema() {
  ModelSchema s;
  s.inputs.push_back({"input_ids", DType::kInt64, {-1, -1}, {"N", "T"}});
  s.inputs.push_back({"attention_mask", DType::kInt64, {-1, -1}, {"N", "T"}});
  s.outputs.push_back({"logits", DType::kFp32, {-1, 3}, {"N", ""}});
  s.outputs.push_back({"hidden", DType::kFp32, {-1, -1, 8}, {"N", "T", ""}});
  s.outputs.push_back({"ids", DType::kInt64, {-1}, {"N"}});
  return s;
}

TEST(PipelineSpecTest, ParsesEveryReportAndRoundTrips) {
  auto spec = Parse(R"({"version":1,"outputs":[
      {"name":"a","report":"argmax","labels":"labels.txt"},
      {"name":"b","report":"top_k","k":3,"scores":"raw"},
      {"name":"c","report":"softmax"},
      {"name":"d","report":"mean_pool","mask":"attention_mask","normalize":"none"},
      {"name":"e"}]})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ASSERT_EQ(spec->outputs.size(), 5u);
  EXPECT_EQ(spec->outputs[0].report, OutputReport::kArgmax);
  EXPECT_EQ(spec->outputs[0].labels, "labels.txt");
  EXPECT_TRUE(spec->outputs[0].softmax);
  EXPECT_EQ(spec->outputs[1].k, 3);
  EXPECT_FALSE(spec->outputs[1].softmax);
  EXPECT_EQ(spec->outputs[2].report, OutputReport::kSoftmax);
  EXPECT_EQ(spec->outputs[3].mask, "attention_mask");
  EXPECT_FALSE(spec->outputs[3].normalize);
  EXPECT_EQ(spec->outputs[4].report, OutputReport::kTensor);
  EXPECT_EQ(spec->Files(), std::vector<std::string>{"labels.txt"});
  std::string out;
  JsonWriter w(&out);
  WritePipeline(*spec, &w);
  auto again = Parse(out);
  ASSERT_TRUE(again.ok()) << out;
  std::string out2;
  JsonWriter w2(&out2);
  WritePipeline(*again, &w2);
  EXPECT_EQ(out, out2);
}

TEST(PipelineSpecTest, ParsesTextAndImageSources) {
  auto spec = Parse(R"({"version":1,"inputs":[
      {"name":"input_ids","source":"text","tokenizer":"tokenizer.json","max_length":128},
      {"name":"mask","source":"text","tokenizer":"tokenizer.json","field":"attention_mask"},
      {"name":"pixels","source":"image","size":[224,224],"mean":[0.485,0.456,0.406],
       "std":[0.229,0.224,0.225],"layout":"NHWC","color":"BGR","max_pixels":1000000}]})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->inputs[0].field, "input_ids");  // defaults to the input's name
  EXPECT_EQ(spec->inputs[0].max_length, 128);
  EXPECT_EQ(spec->inputs[1].field, "attention_mask");
  EXPECT_EQ(spec->inputs[2].image.layout, "NHWC");
  EXPECT_EQ(spec->inputs[2].image.height, 224);
  EXPECT_DOUBLE_EQ(spec->inputs[2].image.std[2], 0.225);
  EXPECT_EQ(spec->inputs[2].image.max_pixels, 1000000);
  EXPECT_EQ(spec->Files(), std::vector<std::string>{"tokenizer.json"});
}

TEST(PipelineSpecTest, RejectionsNameTheField) {
  struct Case {
    const char* json;
    const char* want;
  } cases[] = {
      {R"({"outputs":[]})", "'version' must be 1"},
      {R"({"version":2})", "'version' must be 1"},
      {R"({"version":1,"extra":1})", "unknown field 'extra'"},
      {R"({"version":1,"outputs":[{"name":"a","report":"top_k"}]})", "needs 'k'"},
      {R"({"version":1,"outputs":[{"name":"a","report":"top_k","k":0}]})", "'k' must be"},
      {R"({"version":1,"outputs":[{"name":"a","report":"argmax","lables":"x"}]})",
       "pipeline.outputs[0] 'a': unknown field 'lables'"},
      {R"({"version":1,"outputs":[{"name":"a","report":"median"}]})", "'report' must be"},
      {R"({"version":1,"outputs":[{"name":"a","report":"argmax","labels":"../x"}]})",
       "relative path inside"},
      {R"({"version":1,"outputs":[{"name":"a","report":"mean_pool"}]})", "needs 'mask'"},
      {R"({"version":1,"outputs":[{"name":"a"},{"name":"a"}]})", "listed twice"},
      {R"({"version":1,"inputs":[{"name":"x","source":"audio"}]})", "'source' must be"},
      {R"({"version":1,"inputs":[{"name":"x","source":"text"}]})", "needs a 'tokenizer'"},
      {R"({"version":1,"inputs":[{"name":"x","source":"text","tokenizer":"t","field":"y"}]})",
       "'field' must be"},
      {R"({"version":1,"inputs":[{"name":"x","source":"image"}]})", "'size' must be"},
      {R"({"version":1,"inputs":[{"name":"x","source":"image","size":[2,2],"std":[1,0,1]}]})",
       "'std' entry must be > 0"},
  };
  for (const Case& c : cases) {
    auto spec = Parse(c.json);
    ASSERT_FALSE(spec.ok()) << c.json;
    EXPECT_EQ(spec.status().reason(), "invalid_manifest");
    EXPECT_NE(spec.status().message().find(c.want), std::string::npos)
        << c.json << " -> " << spec.status().message();
  }
}

TEST(PipelineSpecTest, ManifestRequiresNamedFilesToBeListed) {
  std::string pipeline =
      R"({"version":1,"outputs":[{"name":"logits","report":"argmax","labels":"labels.txt"}]})";
  auto unlisted = ParseManifest(ManifestWith(pipeline, false));
  ASSERT_FALSE(unlisted.ok());
  EXPECT_NE(unlisted.status().message().find("'labels.txt' is not listed in 'files'"),
            std::string::npos)
      << unlisted.status().message();
  auto listed = ParseManifest(ManifestWith(pipeline, true));
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_TRUE(listed->pipeline.has_value());
  auto back = ParseManifest(SerializeManifest(*listed));
  ASSERT_TRUE(back.ok()) << SerializeManifest(*listed);
  EXPECT_EQ(back->pipeline->outputs[0].labels, "labels.txt");
  EXPECT_EQ(SerializeManifest(*back), SerializeManifest(*listed));
}

TEST(PipelineSpecTest, ManifestWithoutPipelineSerializesAsBefore) {
  auto m =
      ParseManifest(std::string(R"({"name":"m","version":"1","files":[{"path":"model.onnx",)") +
                    R"("sha256":")" + kSha + R"(","size":1}],"inputs":[],"outputs":[]})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->pipeline.has_value());
  EXPECT_EQ(SerializeManifest(*m).find("pipeline"), std::string::npos);
}

TEST(PipelineSpecTest, CheckAgainstModelSchema) {
  ModelSchema model = ClassifierSchema();
  auto check = [&model](const std::string& pipeline) {
    Manifest m;
    auto spec = Parse(pipeline);
    EXPECT_TRUE(spec.ok()) << pipeline;
    m.pipeline = *spec;
    return CheckPipelineMatches(m, model);
  };
  EXPECT_TRUE(check(R"({"version":1,"inputs":[{"name":"input_ids","source":"text",)"
                    R"("tokenizer":"t.json"}],"outputs":[{"name":"logits","report":"top_k","k":3},)"
                    R"({"name":"hidden","report":"mean_pool","mask":"attention_mask"},)"
                    R"({"name":"ids","report":"argmax","scores":"raw"}]})")
                  .ok());
  struct Case {
    const char* json;
    const char* want;
  } cases[] = {
      {R"({"version":1,"outputs":[{"name":"nope","report":"softmax"}]})", "no such output"},
      {R"({"version":1,"inputs":[{"name":"nope"}]})", "no such input"},
      {R"({"version":1,"outputs":[{"name":"logits","report":"top_k","k":4}]})", "3 classes"},
      {R"({"version":1,"outputs":[{"name":"ids","report":"softmax"}]})", "needs a float output"},
      {R"({"version":1,"outputs":[{"name":"logits","report":"mean_pool","mask":"input_ids"}]})",
       "[batch, tokens, hidden]"},
      {R"({"version":1,"outputs":[{"name":"hidden","report":"mean_pool","mask":"nope"}]})",
       "names no model input"},
      {R"({"version":1,"inputs":[{"name":"input_ids","source":"text","tokenizer":"a"},)"
       R"({"name":"attention_mask","source":"text","tokenizer":"b"}]})",
       "same tokenizer"},
      {R"({"version":1,"inputs":[{"name":"input_ids","source":"image","size":[2,2]}]})",
       "rank-4 float"},
  };
  for (const Case& c : cases) {
    Status s = check(c.json);
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_EQ(s.reason(), "pipeline_mismatch");
    EXPECT_NE(s.message().find(c.want), std::string::npos) << c.json << " -> " << s.message();
  }
}

}  // namespace
}  // namespace modelfn
