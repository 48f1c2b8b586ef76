#include "pipeline/image_preprocess.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace modelfn
