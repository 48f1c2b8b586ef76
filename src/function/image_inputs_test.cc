#include "function/image_inputs.h"

#include <gtest/gtest.h>
#include <png.h>

#include "common/base64.h"

namespace modelfn {
namespace {

// A w x h grey PNG.
std::string Png(int w, int h) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h), 128);
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&img, nullptr, &size, 0, px.data(), 0, nullptr));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&img, out.data(), &size, 0, px.data(), 0, nullptr));
  out.resize(size);
  return out;
}

// A pipeline feeding input "img" [batch, 3, 4, 4] from images; `more` adds a tensor input.
std::shared_ptr<const Pipeline> ImagePipeline(int64_t batch = -1, bool more = false) {
  ModelSchema s;
  s.inputs.push_back({"img", DType::kFp32, {batch, 3, 4, 4}, {"N", "", "", ""}});
  if (more) s.inputs.push_back({"gain", DType::kFp32, {-1, 1}, {"N", ""}});
  s.outputs.push_back({"y", DType::kFp32, {-1, 3}, {"N", ""}});
  auto doc =
      Json::Parse(R"({"version":1,"inputs":[{"name":"img","source":"image","size":[4,4]}]})");
  EXPECT_TRUE(doc.ok());
  auto spec = ParsePipeline(*doc);
  EXPECT_TRUE(spec.ok());
  auto p = Pipeline::FromSpec(*spec, s, {});
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}

TEST(ImageInputsTest, ImageMediaTypes) {
  for (std::string ct : {"image/jpeg", "IMAGE/PNG", "image/webp; charset=binary", " image/png"}) {
    EXPECT_TRUE(IsImageMediaType(&ct)) << ct;
  }
  for (std::string ct : {"image/gif", "image/jpg2", "application/json", "image", ""}) {
    EXPECT_FALSE(IsImageMediaType(&ct)) << ct;
  }
  EXPECT_FALSE(IsImageMediaType(nullptr));
}

TEST(ImageInputsTest, ARawBodyIsOneImageWithoutItsBatchDimension) {
  auto p = ImagePipeline();
  int64_t budget = 1000;
  auto r = PrepareRawImageRequest(Png(9, 7), p.get(), &budget);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->single);
  EXPECT_EQ(r->inputs[0].shape, (std::vector<int64_t>{1, 3, 4, 4}));
  EXPECT_FLOAT_EQ(r->inputs[0].As<float>()[47], 128.0f / 255);
  EXPECT_EQ(budget, 1000 - 48);
  EXPECT_EQ(r->outputs, (std::vector<size_t>{0}));
}

TEST(ImageInputsTest, TheBudgetIsChargedBeforeAnyByteIsDecoded) {
  auto p = ImagePipeline();
  int64_t budget = 47;  // one image makes 48 elements
  auto r = PrepareRawImageRequest("not an image at all", p.get(), &budget);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "too_many_elements");  // not image_unsupported: never decoded
  EXPECT_EQ(budget, 47);
}

TEST(ImageInputsTest, ARawBodyNeedsAModelWhoseOnlyInputIsAnImage) {
  int64_t budget = 1000;
  for (auto p : {std::shared_ptr<const Pipeline>(), ImagePipeline(-1, true)}) {
    auto r = PrepareRawImageRequest(Png(4, 4), p.get(), &budget);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().reason(), "unsupported_media_type") << r.status().ToString();
  }
  auto empty = PrepareRawImageRequest("", ImagePipeline().get(), &budget);
  EXPECT_EQ(empty.status().reason(), "invalid_request");
}

TEST(ImageInputsTest, JsonValuesTakeBase64StringsOrTensors) {
  auto p = ImagePipeline();
  std::string png = Base64Encode(Png(4, 4));
  EXPECT_TRUE(IsImageValue(Json::String(png)));
  auto list = Json::Parse("[\"" + png + "\", \"data:image/png;base64," + png + "\"]");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(IsImageValue(*list));
  auto tensor = Json::Parse("[[[[0.5]]]]");
  ASSERT_TRUE(tensor.ok());
  EXPECT_FALSE(IsImageValue(*tensor));
  int64_t budget = 1000;
  Tensor t;
  ASSERT_TRUE(ImageValue(*list, *p, 0, &budget, &t).ok());
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3, 4, 4}));
  struct Case {
    std::string json;
    const char* reason;
    const char* words;
  } cases[] = {
      {"[\"" + png + "\", \"%%%%\"]", "invalid_base64", "input 'img', image 1"},
      {"\"data:image/png," + png + "\"", "invalid_base64", "a data: URL must hold base64"},
      {"[\"" + png + "\", 7]", "invalid_request", "element 1 is not a string"},
      {"[]", "invalid_request", "holds no images"},
  };
  for (const Case& c : cases) {
    auto v = Json::Parse(c.json);
    ASSERT_TRUE(v.ok());
    Status s = ImageValue(*v, *p, 0, &budget, &t);
    EXPECT_EQ(s.reason(), c.reason) << c.json;
    EXPECT_NE(s.message().find(c.words), std::string::npos) << s.message();
  }
}

TEST(ImageInputsTest, AFixedBatchDimensionTakesThatManyImages) {
  auto p = ImagePipeline(2);
  std::string png = Png(4, 4);
  int64_t budget = 1000;
  Tensor t;
  Status s = PrepareImageInput(*p, 0, {png}, &budget, &t);
  EXPECT_EQ(s.reason(), "shape_mismatch");
  EXPECT_NE(s.message().find("takes 2 image(s) per request, got 1"), std::string::npos);
  EXPECT_TRUE(PrepareImageInput(*p, 0, {png, png}, &budget, &t).ok());
}

TEST(ImageInputsTest, V2BytesHoldBase64InJsonAndRawBytesInBinary) {
  auto p = ImagePipeline();
  std::string png = Png(4, 4);
  int64_t budget = 1000;
  Tensor json;
  json.name = "img";
  json.dtype = DType::kBytes;
  json.shape = {1, 1};
  json.strings = {Base64Encode(png)};
  ASSERT_TRUE(V2ImageInput(*p, 0, true, &budget, &json).ok());
  EXPECT_EQ(json.dtype, DType::kFp32);
  EXPECT_EQ(json.shape, (std::vector<int64_t>{1, 3, 4, 4}));
  Tensor binary = json;
  binary.dtype = DType::kBytes;
  binary.shape = {1};
  binary.strings = {png};
  ASSERT_TRUE(V2ImageInput(*p, 0, false, &budget, &binary).ok());
  EXPECT_EQ(binary.data, json.data);
  Tensor raw_as_json = binary;
  raw_as_json.dtype = DType::kBytes;
  raw_as_json.shape = {1};
  raw_as_json.strings = {png};  // raw bytes where base64 is expected
  EXPECT_EQ(V2ImageInput(*p, 0, true, &budget, &raw_as_json).reason(), "invalid_base64");
  Tensor wide = raw_as_json;
  wide.shape = {1, 2};
  wide.strings = {png, png};
  EXPECT_EQ(V2ImageInput(*p, 0, false, &budget, &wide).reason(), "shape_mismatch");
}

}  // namespace
}  // namespace modelfn
