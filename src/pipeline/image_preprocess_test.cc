#include "pipeline/image_preprocess.h"

#include <gtest/gtest.h>
#include <png.h>

#include <string>

namespace modelfn {
namespace {

RgbImage Solid(int64_t w, int64_t h, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage img;
  img.width = w;
  img.height = h;
  for (int64_t i = 0; i < w * h; ++i) img.pixels.insert(img.pixels.end(), {r, g, b});
  return img;
}

TEST(ImagePreprocessTest, ResizingASolidImageKeepsItsColour) {
  for (const char* f : {"bilinear", "bicubic", "nearest"}) {
    RgbImage out = ResizeRgb(Solid(13, 7, 200, 100, 3), 5, 11, f);
    ASSERT_EQ(out.width, 5);
    ASSERT_EQ(out.height, 11);
    for (size_t i = 0; i < out.pixels.size(); i += 3) {
      EXPECT_EQ(out.pixels[i], 200) << f;
      EXPECT_EQ(out.pixels[i + 1], 100) << f;
      EXPECT_EQ(out.pixels[i + 2], 3) << f;
    }
  }
}

TEST(ImagePreprocessTest, BilinearHalvingAveragesPairs) {
  RgbImage img;
  img.width = 4;
  img.height = 1;
  img.pixels = {0, 0, 0, 100, 100, 100, 200, 200, 200, 250, 250, 250};
  RgbImage out = ResizeRgb(img, 2, 1, "bilinear");
  // Shrinking by 2 widens the triangle to +-2 pixels around each centre (1.0 and 3.0): weights
  // 0.75, 0.75, 0.25 over pixels 0..2, then 0.25, 0.75, 0.75 over pixels 1..3, normalised. Pillow's
  // Image.resize(..., BILINEAR) gives the same 71 and 207.
  EXPECT_EQ(out.pixels[0], 71);   // 125 / 1.75 = 71.4
  EXPECT_EQ(out.pixels[3], 207);  // 362.5 / 1.75 = 207.1
}

TEST(ImagePreprocessTest, LayoutColourAndNormalisation) {
  RgbImage img = Solid(2, 1, 255, 0, 51);
  img.pixels[3] = 0;  // second pixel: 0, 0, 51
  ImageSpec s;
  s.width = 2;
  s.height = 1;
  s.mean = {0.5, 0.5, 0.5};
  s.std = {0.5, 0.5, 0.5};
  float out[6];
  ImageToFloats(img, s, out);  // NCHW, RGB
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], -1.0f);
  EXPECT_FLOAT_EQ(out[2], -1.0f);
  EXPECT_FLOAT_EQ(out[4], -0.6f);
  s.layout = "NHWC";
  s.color = "BGR";
  ImageToFloats(img, s, out);
  EXPECT_FLOAT_EQ(out[0], -0.6f);  // B of pixel 0
  EXPECT_FLOAT_EQ(out[2], 1.0f);   // R of pixel 0
  EXPECT_FLOAT_EQ(out[5], -1.0f);  // R of pixel 1
}

std::string Png(const RgbImage& img) {
  png_image p{};
  p.version = PNG_IMAGE_VERSION;
  p.width = static_cast<png_uint_32>(img.width);
  p.height = static_cast<png_uint_32>(img.height);
  p.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&p, nullptr, &size, 0, img.pixels.data(), 0, nullptr));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&p, out.data(), &size, 0, img.pixels.data(), 0, nullptr));
  out.resize(size);
  return out;
}

TEST(ImagePreprocessTest, ABatchBecomesOneTensorInTheDeclaredLayout) {
  std::string red = Png(Solid(9, 4, 255, 0, 0));
  std::string blue = Png(Solid(3, 3, 0, 0, 255));
  ImageSpec s;
  s.width = 2;
  s.height = 2;
  auto t = ImagesToTensor({red, blue}, s, "pixels");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->name, "pixels");
  EXPECT_EQ(t->dtype, DType::kFp32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3, 2, 2}));
  const float* f = t->As<float>();
  EXPECT_FLOAT_EQ(f[0], 1.0f);       // image 0, R plane
  EXPECT_FLOAT_EQ(f[4], 0.0f);       // image 0, G plane
  EXPECT_FLOAT_EQ(f[12 + 8], 1.0f);  // image 1, B plane
  s.layout = "NHWC";
  t = ImagesToTensor({blue}, s, "pixels");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape, (std::vector<int64_t>{1, 2, 2, 3}));
  EXPECT_FLOAT_EQ(t->As<float>()[2], 1.0f);
}

TEST(ImagePreprocessTest, ABadImageInABatchNamesItsIndex) {
  std::string ok = Png(Solid(2, 2, 1, 2, 3));
  ImageSpec s;
  s.width = 2;
  s.height = 2;
  s.max_pixels = 100;
  auto t = ImagesToTensor({ok, "not an image"}, s, "pixels");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().reason(), "image_unsupported");
  EXPECT_NE(t.status().message().find("image 1"), std::string::npos) << t.status().message();
  t = ImagesToTensor({Png(Solid(11, 10, 0, 0, 0))}, s, "pixels");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().reason(), "image_too_large");
  t = ImagesToTensor({}, s, "pixels");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().reason(), "invalid_request");
}

}  // namespace
}  // namespace modelfn
