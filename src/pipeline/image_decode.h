// Decoding of encoded images (JPEG, PNG, WebP) into 8-bit RGB, with size limits checked from the
// header before any pixel is decoded. The format is sniffed from the bytes' magic number, never
// taken from a client's content type.
//
// Errors carry a stable reason that the problem catalogue maps to a 4xx:
//   "image_unsupported" (InvalidArgument): the bytes are not JPEG, PNG or WebP (wrong magic).
//   "image_invalid" (InvalidArgument): a known format whose bytes are corrupt or truncated, or a
//     feature the decoder cannot turn into RGB (e.g. a CMYK JPEG).
//   "image_too_large" (ResourceExhausted): the header declares a width, height or pixel count over
//     the limits; refused before decoding, so a decompression bomb costs no memory.
// The libraries' error paths never unwind through C++ frames and never abort the process.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {

enum class ImageFormat : uint8_t { kUnknown, kJpeg, kPng, kWebp };

// "jpeg", "png", "webp" or "unknown".
const char* ImageFormatName(ImageFormat f);

// The format by magic number: JPEG FF D8 FF, PNG's 8-byte signature, WebP "RIFF....WEBP".
ImageFormat SniffImageFormat(std::string_view bytes);

struct ImageLimits {
  int64_t max_width = 4096;
  int64_t max_height = 4096;
  int64_t max_pixels = 16 * 1024 * 1024;
};

// An image as 8-bit samples, row-major, 3 interleaved channels in R, G, B order.
struct RgbImage {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// The header's width and height (no pixels decoded). Errors as DecodeImage, except the limits.
struct ImageHeader {
  ImageFormat format = ImageFormat::kUnknown;
  int64_t width = 0;
  int64_t height = 0;
};
StatusOr<ImageHeader> ReadImageHeader(std::string_view bytes);

// Decodes `bytes` to RGB. Grey images are expanded to three equal channels; an alpha channel is
// dropped (not composited); palettes and low bit depths are expanded; 16-bit PNG samples keep their
// high byte; EXIF orientation and embedded colour profiles are not applied.
StatusOr<RgbImage> DecodeImage(std::string_view bytes, const ImageLimits& limits);

}  // namespace modelfn
