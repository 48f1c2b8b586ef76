#include "pipeline/pipeline.h"

#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>

#include <cstring>
#include <string_view>

#include "common/files.h"
#include "common/sha256.h"

namespace modelfn {
namespace {

ModelSchema Schema() {
  ModelSchema s;
  s.inputs.push_back({"x", DType::kFp32, {-1, 4}, {"N", ""}});
  s.inputs.push_back({"mask", DType::kInt64, {-1, -1}, {"N", "T"}});
  s.outputs.push_back({"logits", DType::kFp32, {-1, 3}, {"N", ""}});
  s.outputs.push_back({"hidden", DType::kFp32, {-1, -1, 2}, {"N", "T", ""}});
  return s;
}

PipelineSpec Spec(const std::string& json) {
  auto doc = Json::Parse(json);
  EXPECT_TRUE(doc.ok());
  auto spec = ParsePipeline(*doc);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

Tensor Logits(std::vector<int64_t> shape, const std::vector<float>& v) {
  Tensor t;
  t.name = "logits";
  t.shape = std::move(shape);
  t.data.resize(v.size() * 4);
  if (!v.empty()) std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

std::string Json(const ReportedOutput& r) {
  std::string out;
  JsonWriter w(&out);
  WriteReportedJson(r, &w);
  return out;
}

std::vector<std::pair<std::string, std::vector<std::string>>> Labels() {
  return {{"labels.txt", {"negative", "neutral", "positive"}}};
}

TEST(OutputPipelineTest, ArgmaxWithLabelsGivesOneObjectPerRow) {
  auto p = Pipeline::FromSpec(
      Spec(R"({"version":1,"outputs":[{"name":"logits","report":"argmax","labels":"labels.txt",)"
           R"("scores":"raw"}]})"),
      Schema(), Labels());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto r = (*p)->Report(Logits({2, 3}, {0.1f, 0.5f, 0.25f, 0.75f, 0.125f, 0.125f}), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Json(*r), R"([{"label":"neutral","index":1,"score":0.5},)"
                      R"({"label":"negative","index":0,"score":0.75}])");
  Tensor v2 = ReportedToV2Tensor(*r);
  EXPECT_EQ(v2.dtype, DType::kBytes);
  EXPECT_EQ(v2.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(v2.strings, (std::vector<std::string>{"0.5:1:neutral", "0.75:0:negative"}));
}

TEST(OutputPipelineTest, TopKGivesAListPerRowAndAnObjectForARankOneOutput) {
  auto p = Pipeline::FromSpec(
      Spec(R"({"version":1,"outputs":[{"name":"logits","report":"top_k","k":2,"scores":"raw"}]})"),
      Schema(), {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto r = (*p)->Report(Logits({1, 3}, {0.25f, 0.5f, 0.125f}), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Json(*r), R"([[{"index":1,"score":0.5},{"index":0,"score":0.25}]])");
  EXPECT_EQ(ReportedToV2Tensor(*r).strings, (std::vector<std::string>{"0.5:1", "0.25:0"}));
  auto single = (*p)->Report(Logits({3}, {0.25f, 0.5f, 0.125f}), {});
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(Json(*single), R"([{"index":1,"score":0.5},{"index":0,"score":0.25}])");
}

TEST(OutputPipelineTest, UnreportedOutputsPassThroughRaw) {
  auto p = Pipeline::FromSpec(Spec(R"({"version":1,"outputs":[]})"), Schema(), {});
  ASSERT_TRUE(p.ok());
  auto r = (*p)->Report(Logits({1, 3}, {1, 2, 3}), {});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ranked);
  EXPECT_EQ(Json(*r), "[[1,2,3]]");
}

TEST(OutputPipelineTest, MeanPoolReadsTheMaskFromTheRunsInputs) {
  auto p = Pipeline::FromSpec(
      Spec(R"({"version":1,"outputs":[{"name":"hidden","report":"mean_pool","mask":"mask"}]})"),
      Schema(), {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Tensor hidden = Logits({1, 2, 2}, {3, 0, 100, 100});
  hidden.name = "hidden";
  Tensor mask;
  mask.name = "mask";
  mask.dtype = DType::kInt64;
  mask.shape = {1, 2};
  int64_t m[2] = {1, 0};
  mask.data.resize(16);
  std::memcpy(mask.data.data(), m, 16);
  std::vector<Tensor> inputs(2);
  inputs[1] = mask;
  auto r = (*p)->Report(hidden, inputs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Json(*r), "[[1,0]]");
  inputs[1].shape = {2, 1};
  auto bad = (*p)->Report(hidden, inputs);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().reason(), "shape_mismatch");
}

TEST(OutputPipelineTest, ReportedSpecsDescribeTheAnswers) {
  auto p =
      Pipeline::FromSpec(Spec(R"({"version":1,"outputs":[{"name":"logits","report":"top_k","k":2},)"
                              R"({"name":"hidden","report":"mean_pool","mask":"mask"}]})"),
                         Schema(), {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ModelSchema s = Schema();
  TensorSpec logits = (*p)->ReportedSpec(s.outputs[0]);
  EXPECT_EQ(logits.dtype, DType::kBytes);
  EXPECT_EQ(logits.shape, (std::vector<int64_t>{-1, 2}));
  EXPECT_EQ(logits.dim_params[0], "N");
  TensorSpec hidden = (*p)->ReportedSpec(s.outputs[1]);
  EXPECT_EQ(hidden.dtype, DType::kFp32);
  EXPECT_EQ(hidden.shape, (std::vector<int64_t>{-1, 2}));
  EXPECT_EQ(hidden.dim_params, (std::vector<std::string>{"N", ""}));
  EXPECT_STREQ((*p)->ReportName("logits"), "top_k");
  EXPECT_EQ((*p)->ReportName("x"), nullptr);
}

TEST(OutputPipelineTest, LabelCountMustMatchTheClasses) {
  auto p = Pipeline::FromSpec(
      Spec(R"({"version":1,"outputs":[{"name":"logits","report":"argmax","labels":"l"}]})"),
      Schema(), {{"l", {"a", "b"}}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().reason(), "pipeline_mismatch");
  EXPECT_NE(p.status().message().find("2 labels but the output has 3 classes"), std::string::npos)
      << p.status().message();
}

TEST(OutputPipelineTest, TextSourcesWithoutATokenizerAreRefusedAtLoad) {
  ModelSchema s = Schema();
  s.inputs.push_back({"ids", DType::kInt64, {-1, -1}, {"N", "T"}});
  auto p = Pipeline::FromSpec(
      Spec(R"({"version":1,"inputs":[{"name":"ids","source":"text","tokenizer":"t.json",)"
           R"("field":"input_ids"}]})"),
      s, {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(p.status().reason(), "pipeline_unsupported");
  EXPECT_NE(p.status().message().find("'ids'"), std::string::npos);
}

TEST(OutputPipelineTest, ParseLabels) {
  auto l = ParseLabels("neg\r\npos\n", "l.txt");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(ParseLabels("a\n\nb\n", "l.txt").status().reason(), "invalid_labels");
  EXPECT_EQ(ParseLabels("", "l.txt").status().reason(), "invalid_labels");
  EXPECT_EQ(ParseLabels("a\xff\n", "l.txt").status().reason(), "invalid_labels");
  auto utf8 = ParseLabels("café\n猫", "l.txt");
  ASSERT_TRUE(utf8.ok());
  EXPECT_EQ((*utf8)[1], "猫");
}

TEST(OutputPipelineTest, LoadVerifiesTheLabelsFileBytes) {
  std::string dir = testing::TempDir() + "/pipeline_load";
  mkdir(dir.c_str(), 0755);
  ASSERT_TRUE(WriteFileAtomic(dir + "/labels.txt", "neg\nneu\npos\n").ok());
  Manifest m;
  m.files.push_back({"model.onnx", std::string(64, '0'), 1});
  m.files.push_back({"labels.txt", Sha256Hex("neg\nneu\npos\n"), 12});
  m.pipeline = Spec(
      R"({"version":1,"outputs":[{"name":"logits","report":"argmax","labels":"labels.txt"}]})");
  auto p = Pipeline::Load(m, Schema(), dir);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto r = (*p)->Report(Logits({1, 3}, {0, 0, 5}), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entries[0].index, 2);
  EXPECT_EQ((*r->labels)[2], "pos");
  ASSERT_TRUE(WriteFileAtomic(dir + "/labels.txt", "neg\nneu\nPOS\n").ok());
  auto changed = Pipeline::Load(m, Schema(), dir);
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.status().reason(), "checksum_mismatch");
  Manifest none;
  auto absent = Pipeline::Load(none, Schema(), dir);
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(*absent, nullptr);
}

// A w x h RGB PNG whose pixel (x, y) is (x * 10, y * 20, 7).
std::string Png(int w, int h) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[static_cast<size_t>((y * w + x) * 3)];
      p[0] = static_cast<uint8_t>(x * 10);
      p[1] = static_cast<uint8_t>(y * 20);
      p[2] = 7;
    }
  }
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&img, nullptr, &size, 0, px.data(), 0, nullptr));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&img, out.data(), &size, 0, px.data(), 0, nullptr));
  out.resize(size);
  return out;
}

ModelSchema ImageSchema(DType dtype, std::vector<int64_t> shape) {
  ModelSchema s;
  s.inputs.push_back({"scale", DType::kFp32, {-1, 1}, {"N", ""}});
  s.inputs.push_back({"img", dtype, std::move(shape), {"N", "", "", ""}});
  s.outputs.push_back({"logits", DType::kFp32, {-1, 3}, {"N", ""}});
  return s;
}

TEST(ImagePipelineTest, ImageInputsPrepareEncodedImagesIntoTheirTensor) {
  auto p = Pipeline::FromSpec(
      Spec(R"({"version":1,"inputs":[{"name":"img","source":"image","size":[3,4],)"
           R"("mean":[0.5,0,0],"std":[0.5,1,1]}]})"),
      ImageSchema(DType::kFp32, {-1, 3, 3, -1}), {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE((*p)->has_images());
  EXPECT_EQ((*p)->image_inputs(), 1u);
  EXPECT_EQ((*p)->ImageInput(0), nullptr);
  ASSERT_NE((*p)->ImageInput(1), nullptr);
  EXPECT_EQ((*p)->ImageInput(1)->width, 4);
  EXPECT_EQ((*p)->ImageElements(1, 2), 2 * 3 * 3 * 4);
  EXPECT_EQ((*p)->ImageElements(1, INT64_MAX / 2), INT64_MAX);
  std::string a = Png(4, 3), b = Png(4, 3);
  auto t = (*p)->PrepareImages(1, {a, b});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->name, "img");
  EXPECT_EQ(t->dtype, DType::kFp32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3, 3, 4}));
  const float* f = t->As<float>();
  // Image 1, red plane, pixel (x=3, y=2): (30/255 - 0.5) / 0.5; green plane: 40/255.
  EXPECT_FLOAT_EQ(f[36 + 2 * 4 + 3], static_cast<float>((30.0 / 255 - 0.5) / 0.5));
  EXPECT_FLOAT_EQ(f[36 + 12 + 2 * 4 + 3], static_cast<float>(40.0 / 255));
}

TEST(ImagePipelineTest, Fp16AndFp64InputsGetTheSamplesConverted) {
  std::string png = Png(2, 2);
  for (DType dt : {DType::kFp16, DType::kFp64}) {
    auto p = Pipeline::FromSpec(
        Spec(R"({"version":1,"inputs":[{"name":"img","source":"image","size":[2,2],)"
             R"("layout":"NHWC"}]})"),
        ImageSchema(dt, {1, 2, 2, 3}), {});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    auto t = (*p)->PrepareImages(1, {png});
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->dtype, dt);
    EXPECT_EQ(t->shape, (std::vector<int64_t>{1, 2, 2, 3}));
    ASSERT_EQ(t->data.size(), 12 * DTypeSize(dt));
    // NHWC: pixel (x=1, y=1) is (10, 20, 7).
    double green = dt == DType::kFp16 ? HalfToFloat(t->As<uint16_t>()[10]) : t->As<double>()[10];
    EXPECT_NEAR(green, 20.0 / 255, 1e-3);
  }
}

TEST(ImagePipelineTest, ASizeOrLayoutTheModelCannotTakeIsRefusedAtLoad) {
  struct Case {
    const char* spec;
    std::vector<int64_t> shape;
    DType dtype;
    const char* words;
  } cases[] = {
      {R"({"name":"img","source":"image","size":[224,224]})",
       {-1, 3, 32, 32},
       DType::kFp32,
       "makes [N, 3, 224, 224], but the model takes [-1,3,32,32]"},
      {R"({"name":"img","source":"image","size":[32,32],"layout":"NHWC"})",
       {-1, 3, 32, 32},
       DType::kFp32,
       "in NHWC makes [N, 32, 32, 3]"},
      {R"({"name":"img","source":"image","size":[32,32]})",
       {-1, 1, 32, 32},
       DType::kFp32,
       "makes [N, 3, 32, 32]"},
      {R"({"name":"img","source":"image","size":[32,32]})",
       {-1, 3, 32, 32},
       DType::kInt64,
       "rank-4 float"},
  };
  for (const Case& c : cases) {
    auto p = Pipeline::FromSpec(Spec(std::string(R"({"version":1,"inputs":[)") + c.spec + "]}"),
                                ImageSchema(c.dtype, c.shape), {});
    ASSERT_FALSE(p.ok()) << c.spec;
    EXPECT_EQ(p.status().reason(), "pipeline_mismatch") << p.status().ToString();
    EXPECT_NE(p.status().message().find("'img'"), std::string::npos) << p.status().message();
    EXPECT_NE(p.status().message().find(c.words), std::string::npos) << p.status().message();
  }
}

TEST(ImagePipelineTest, BadImagesAreTypedErrorsNamingTheInputAndImage) {
  auto p = Pipeline::FromSpec(
      Spec(R"({"version":1,"inputs":[{"name":"img","source":"image","size":[2,2],)"
           R"("max_width":8}]})"),
      ImageSchema(DType::kFp32, {-1, 3, 2, 2}), {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::string good = Png(2, 2), wide = Png(9, 1), cut = good.substr(0, good.size() / 2);
  struct Case {
    std::string_view bytes;
    const char* reason;
  } cases[] = {
      {"GIF89a....", "image_unsupported"}, {cut, "image_invalid"}, {wide, "image_too_large"}};
  for (const Case& c : cases) {
    auto t = (*p)->PrepareImages(1, {good, c.bytes});
    ASSERT_FALSE(t.ok()) << c.reason;
    EXPECT_EQ(t.status().reason(), c.reason) << t.status().ToString();
    EXPECT_NE(t.status().message().find("input 'img', image 1"), std::string::npos)
        << t.status().message();
  }
}

}  // namespace
}  // namespace modelfn
