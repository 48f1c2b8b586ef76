#include "pipeline/image_decode.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

// clang-format off
#include <jpeglib.h>
// clang-format on
#include <png.h>
#include <webp/encode.h>
#include <zlib.h>

namespace modelfn {
namespace {

// A w x h RGB gradient with distinct channels.
std::vector<uint8_t> Gradient(int w, int h) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[static_cast<size_t>((y * w + x) * 3)];
      p[0] = static_cast<uint8_t>(x * 255 / (w > 1 ? w - 1 : 1));
      p[1] = static_cast<uint8_t>(y * 255 / (h > 1 ? h - 1 : 1));
      p[2] = static_cast<uint8_t>((x + y) % 256);
    }
  }
  return px;
}

std::string EncodeJpeg(const std::vector<uint8_t>& px, int w, int h, int quality = 95,
                       bool progressive = false) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(&px[static_cast<size_t>(c.next_scanline) * w * 3]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::string out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  return out;
}

std::string EncodePng(const std::vector<uint8_t>& px, int w, int h, png_uint_32 format) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = format;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&img, nullptr, &size, 0, px.data(), 0, nullptr));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&img, out.data(), &size, 0, px.data(), 0, nullptr));
  out.resize(size);
  return out;
}

std::string EncodeWebpLossless(const std::vector<uint8_t>& px, int w, int h) {
  uint8_t* buf = nullptr;
  size_t size = WebPEncodeLosslessRGB(px.data(), w, h, w * 3, &buf);
  std::string out(reinterpret_cast<char*>(buf), size);
  WebPFree(buf);
  return out;
}

// Big-endian 32-bit write.
void Put32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    (*s)[at + static_cast<size_t>(i)] = static_cast<char>(v >> (24 - 8 * i));
}

TEST(ImageDecodeTest, SniffsByMagicNumber) {
  EXPECT_EQ(SniffImageFormat("\xFF\xD8\xFF\xE0rest"), ImageFormat::kJpeg);
  EXPECT_EQ(SniffImageFormat(std::string("\x89PNG\r\n\x1A\n", 8)), ImageFormat::kPng);
  EXPECT_EQ(SniffImageFormat(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)), ImageFormat::kWebp);
  EXPECT_EQ(SniffImageFormat("GIF89a......"), ImageFormat::kUnknown);
  EXPECT_EQ(SniffImageFormat(""), ImageFormat::kUnknown);
  EXPECT_EQ(SniffImageFormat(std::string("RIFF\x10\0\0\0WAVEfmt ", 16)), ImageFormat::kUnknown);
}

TEST(ImageDecodeTest, PngRoundTripsExactly) {
  std::vector<uint8_t> px = Gradient(37, 21);
  auto img = DecodeImage(EncodePng(px, 37, 21, PNG_FORMAT_RGB), ImageLimits());
  ASSERT_TRUE(img.ok()) << img.status().message();
  EXPECT_EQ(img->width, 37);
  EXPECT_EQ(img->height, 21);
  EXPECT_EQ(img->pixels, px);
}

TEST(ImageDecodeTest, PngGreyAndAlphaBecomeRgb) {
  std::vector<uint8_t> grey = {0, 128, 255, 7};
  auto g = DecodeImage(EncodePng(grey, 2, 2, PNG_FORMAT_GRAY), ImageLimits());
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->pixels, (std::vector<uint8_t>{0, 0, 0, 128, 128, 128, 255, 255, 255, 7, 7, 7}));
  std::vector<uint8_t> rgba = {10, 20, 30, 0, 40, 50, 60, 255};
  auto a = DecodeImage(EncodePng(rgba, 2, 1, PNG_FORMAT_RGBA), ImageLimits());
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
}

TEST(ImageDecodeTest, JpegDecodesCloseToTheSource) {
  std::vector<uint8_t> px = Gradient(64, 48);
  auto img = DecodeImage(EncodeJpeg(px, 64, 48), ImageLimits());
  ASSERT_TRUE(img.ok()) << img.status().message();
  ASSERT_EQ(img->width, 64);
  ASSERT_EQ(img->height, 48);
  double err = 0;
  for (size_t i = 0; i < px.size(); ++i) err += std::abs(int(px[i]) - int(img->pixels[i]));
  EXPECT_LT(err / static_cast<double>(px.size()), 4.0);  // lossy, but close at quality 95
}

TEST(ImageDecodeTest, WebpLosslessRoundTripsExactly) {
  std::vector<uint8_t> px = Gradient(30, 17);
  auto img = DecodeImage(EncodeWebpLossless(px, 30, 17), ImageLimits());
  ASSERT_TRUE(img.ok()) << img.status().message();
  EXPECT_EQ(img->width, 30);
  EXPECT_EQ(img->pixels, px);
}

TEST(ImageDecodeTest, WrongMagicIsUnsupported) {
  auto r = DecodeImage("GIF89a\x01\x00\x01\x00", ImageLimits());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "image_unsupported");
}

TEST(ImageDecodeTest, TruncatedFilesAreInvalid) {
  std::vector<uint8_t> px = Gradient(40, 40);
  for (const std::string& full : {EncodeJpeg(px, 40, 40), EncodePng(px, 40, 40, PNG_FORMAT_RGB),
                                  EncodeWebpLossless(px, 40, 40)}) {
    for (size_t cut : {size_t{12}, full.size() / 3, full.size() / 2, full.size() - 3}) {
      auto r = DecodeImage(full.substr(0, cut), ImageLimits());
      ASSERT_FALSE(r.ok()) << ImageFormatName(SniffImageFormat(full)) << " cut at " << cut;
      EXPECT_EQ(r.status().reason(), "image_invalid") << r.status().message();
    }
  }
}

// The JPEG with its last scan (SOS segment and entropy-coded data) repeated `extra` more times
// before EOI, and the number of scans it then has.
std::string RepeatLastScan(const std::string& jpg, int extra, int* scans) {
  size_t i = 2, last = 0, end = 0;
  *scans = 0;
  while (i + 4 <= jpg.size() && static_cast<uint8_t>(jpg[i + 1]) != 0xD9) {
    size_t len = (static_cast<uint8_t>(jpg[i + 2]) << 8) | static_cast<uint8_t>(jpg[i + 3]);
    size_t next = i + 2 + len;
    if (static_cast<uint8_t>(jpg[i + 1]) == 0xDA) {  // entropy-coded data up to the next marker
      while (next + 1 < jpg.size() &&
             !(static_cast<uint8_t>(jpg[next]) == 0xFF && jpg[next + 1] != 0 &&
               (static_cast<uint8_t>(jpg[next + 1]) < 0xD0 ||
                static_cast<uint8_t>(jpg[next + 1]) > 0xD7))) {
        ++next;
      }
      last = i;
      end = next;
      ++*scans;
    }
    i = next;
  }
  std::string scan = jpg.substr(last, end - last);
  std::string out = jpg.substr(0, end);
  for (int k = 0; k < extra; ++k) out += scan;
  *scans += extra;
  return out + jpg.substr(end);
}

// Each scan of a progressive JPEG passes over the whole image, and a repeated scan can be a few
// bytes: past 32 scans the image is refused as it is read, not decoded for minutes.
TEST(ImageDecodeTest, ProgressiveJpegWithTooManyScansIsInvalid) {
  std::vector<uint8_t> px = Gradient(64, 64);
  std::string jpg = EncodeJpeg(px, 64, 64, 90, /*progressive=*/true);
  int scans = 0;
  std::string many = RepeatLastScan(jpg, 0, &scans);
  EXPECT_EQ(many, jpg);
  EXPECT_EQ(scans, 10);  // libjpeg's simple progression
  auto ok = DecodeImage(jpg, ImageLimits());
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  auto at_limit = DecodeImage(RepeatLastScan(jpg, 22, &scans), ImageLimits());
  EXPECT_EQ(scans, 32);
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().message();  // a repeated refinement is allowed
  auto bomb = DecodeImage(RepeatLastScan(jpg, 23, &scans), ImageLimits());
  EXPECT_EQ(scans, 33);
  ASSERT_FALSE(bomb.ok());
  EXPECT_EQ(bomb.status().reason(), "image_invalid");
  EXPECT_NE(bomb.status().message().find("more than 32 scans"), std::string::npos)
      << bomb.status().message();
  // The header alone is still read (the limits are checked from it).
  auto h = ReadImageHeader(RepeatLastScan(jpg, 500, &scans));
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->width, 64);
}

// A PNG chunk of type `type` holding `data`, with its CRC.
std::string PngChunk(const std::string& type, const std::string& data) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  std::string body = type + data;
  uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  return be32(static_cast<uint32_t>(data.size())) + body + be32(crc);
}

// Text and ICC profile chunks (skipped unread) change nothing, whether they hold valid or corrupt
// compressed data, before or after the image data.
TEST(ImageDecodeTest, PngTextAndProfileChunksAreSkipped) {
  std::vector<uint8_t> px = Gradient(20, 10);
  std::string png = EncodePng(px, 20, 10, PNG_FORMAT_RGB);
  const size_t after_ihdr = 8 + 25;  // signature, IHDR (length, type, 13 bytes, CRC)
  std::string zeros(1 << 20, '\0');
  uLongf packed_size = compressBound(static_cast<uLong>(zeros.size()));
  std::string packed(packed_size, '\0');
  ASSERT_EQ(
      compress(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
               reinterpret_cast<const Bytef*>(zeros.data()), static_cast<uLong>(zeros.size())),
      Z_OK);
  packed.resize(packed_size);
  std::string extra = PngChunk("tEXt", std::string("Comment\0hello", 13)) +
                      PngChunk("zTXt", std::string("Comment\0\0", 9) + packed) +
                      PngChunk("zTXt", std::string("Bad\0\0not zlib", 14)) +
                      PngChunk("iCCP", std::string("icc\0\0garbage", 13)) +
                      PngChunk("iTXt", std::string("Key\0\1\0\0\0not zlib", 16));
  std::string iend = png.substr(png.size() - 12);
  std::string with = png.substr(0, after_ihdr) + extra +
                     png.substr(after_ihdr, png.size() - 12 - after_ihdr) + extra + iend;
  auto plain = DecodeImage(png, ImageLimits());
  auto r = DecodeImage(with, ImageLimits());
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pixels, plain->pixels);
  EXPECT_EQ(r->pixels, px);
}

TEST(ImageDecodeTest, LimitsAreCheckedFromTheHeader) {
  std::vector<uint8_t> px = Gradient(40, 30);
  ImageLimits l;
  l.max_width = 39;
  auto r = DecodeImage(EncodePng(px, 40, 30, PNG_FORMAT_RGB), l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "image_too_large");
  l = ImageLimits();
  l.max_pixels = 40 * 30 - 1;
  r = DecodeImage(EncodeJpeg(px, 40, 30), l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "image_too_large");
  l = ImageLimits();
  l.max_height = 29;
  r = DecodeImage(EncodeWebpLossless(px, 40, 30), l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "image_too_large");
}

TEST(ImageDecodeTest, BombHeadersAreRefusedBeforeDecoding) {
  // A PNG whose IHDR declares 100000 x 100000 (the CRC fixed up), with no pixel data at all: the
  // refusal comes from the header alone.
  std::string png = EncodePng(Gradient(1, 1), 1, 1, PNG_FORMAT_RGB);
  Put32(&png, 16, 100000);
  Put32(&png, 20, 100000);
  Put32(&png, 29, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(&png[12]), 17)));
  auto h = ReadImageHeader(png);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->width, 100000);
  auto r = DecodeImage(png, ImageLimits());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "image_too_large");

  // A JPEG whose SOF0 declares 60000 x 60000 (JPEG's 16-bit fields).
  std::string jpg = EncodeJpeg(Gradient(8, 8), 8, 8);
  size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpg[sof + 5] = static_cast<char>(0xEA);
  jpg[sof + 6] = static_cast<char>(0x60);
  jpg[sof + 7] = static_cast<char>(0xEA);
  jpg[sof + 8] = static_cast<char>(0x60);
  r = DecodeImage(jpg, ImageLimits());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "image_too_large") << r.status().message();
}

TEST(ImageDecodeTest, GarbageAfterTheMagicIsInvalid) {
  for (std::string s : {std::string("\xFF\xD8\xFF\xE0garbage-garbage-garbage"),
                        std::string("\x89PNG\r\n\x1A\ngarbage-garbage-garbage", 31),
                        std::string("RIFF\x20\0\0\0WEBPVP8 garbage-garbage", 31)}) {
    auto r = DecodeImage(s, ImageLimits());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().reason(), "image_invalid") << r.status().message();
  }
}

}  // namespace
}  // namespace modelfn
