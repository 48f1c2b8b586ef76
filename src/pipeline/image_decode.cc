#include "pipeline/image_decode.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>

// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <png.h>
#include <webp/decode.h>

namespace modelfn {
namespace {

Status Invalid(ImageFormat f, const std::string& why) {
  return Status(StatusCode::kInvalidArgument,
                std::string("the ") + ImageFormatName(f) + " image cannot be decoded: " + why,
                "image_invalid");
}

Status CheckLimits(const ImageHeader& h, const ImageLimits& l) {
  if (h.width < 1 || h.height < 1) return Invalid(h.format, "its header declares no pixels");
  if (h.width > l.max_width || h.height > l.max_height || h.width * h.height > l.max_pixels) {
    return Status(StatusCode::kResourceExhausted,
                  "the image is " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                      "; this model accepts at most " + std::to_string(l.max_width) + "x" +
                      std::to_string(l.max_height) + " and " + std::to_string(l.max_pixels) +
                      " pixels",
                  "image_too_large");
  }
  return Status::Ok();
}

// ---- JPEG (libjpeg-turbo). error_exit longjmps back to the setjmp in RunJpeg, which holds only
// trivially destructible locals; the frames it skips are libjpeg's own C frames.
struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// Warnings are silent, except a premature end of data: a truncated file is an error, not an image
// padded with grey.
void JpegEmitMessage(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) JpegErrorExit(cinfo);
}

// A progressive JPEG's scans each pass over the whole image's coefficients, and a scan can be a
// few bytes: 3,000 repeated scans of a 4096x4096 image (198 KB) kept a core busy for 44 s. Encoders
// write up to about a dozen scans (libjpeg's simple progression: 10).
constexpr int kMaxJpegScans = 32;

// libjpeg's progress hook, called as it reads each scan: stops a file with too many scans.
void JpegProgress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number <= kMaxJpegScans) return;
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  std::snprintf(e->message, sizeof e->message, "it has more than %d scans", kMaxJpegScans);
  longjmp(e->jump, 1);
}

enum JpegStep { kJpegHeader, kJpegDecode };

// Returns false with e->message set on a libjpeg error. With step kJpegHeader, only reads the
// header into *w, *h; with kJpegDecode also decodes into out (sized w * h * 3 by the caller through
// `alloc`, called once the header is read and may refuse by returning null).
bool RunJpeg(const unsigned char* data, size_t size, JpegStep step, JpegError* e, int64_t* w,
             int64_t* h, uint8_t* (*alloc)(void*, int64_t, int64_t), void* ctx) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&e->mgr);
  e->mgr.error_exit = JpegErrorExit;
  e->mgr.emit_message = JpegEmitMessage;
  jpeg_progress_mgr progress{};
  progress.progress_monitor = JpegProgress;
  if (setjmp(e->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  *w = cinfo.image_width;
  *h = cinfo.image_height;
  if (step == kJpegDecode) {
    uint8_t* out = alloc(ctx, *w, *h);
    if (out == nullptr) {
      jpeg_destroy_decompress(&cinfo);
      return true;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3) {
      std::snprintf(e->message, sizeof e->message, "%d output components", cinfo.output_components);
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
    size_t stride = static_cast<size_t>(*w) * 3;
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = out + stride * cinfo.output_scanline;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
  }
  jpeg_destroy_decompress(&cinfo);
  return true;
}

struct AllocCtx {
  const ImageLimits* limits;
  ImageFormat format;
  Status status;
  RgbImage* img;
};

uint8_t* AllocChecked(void* p, int64_t w, int64_t h) {
  auto* c = static_cast<AllocCtx*>(p);
  c->status = CheckLimits(ImageHeader{c->format, w, h}, *c->limits);
  if (!c->status.ok()) return nullptr;
  c->img->width = w;
  c->img->height = h;
  c->img->pixels.assign(static_cast<size_t>(w * h * 3), 0);
  return c->img->pixels.data();
}

// ---- PNG (libpng). The error function longjmps to the setjmp in RunPng, as above.
struct PngState {
  const unsigned char* data;
  size_t size;
  size_t pos;
  char message[256];
};

void PngError(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof s->message, "%s", msg);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}

void PngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* s = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > s->size - s->pos) png_error(png, "the data ends early (truncated)");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

bool RunPng(PngState* s, bool decode, int64_t* w, int64_t* h,
            uint8_t* (*alloc)(void*, int64_t, int64_t), void* ctx) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, PngError, PngWarning);
  if (png == nullptr) {
    std::snprintf(s->message, sizeof s->message, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  png_bytep* volatile rows = nullptr;
  if (setjmp(png_jmpbuf(png))) {
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  if (info == nullptr) png_error(png, "out of memory");
  png_set_read_fn(png, s, PngRead);
  // Text and ICC profile chunks are compressed and of no use here: skipped without inflating them,
  // so a file full of zTXt bombs costs what reading its bytes costs (60 zTXt chunks of 100 MB of
  // zeros each, in 6 MB, took 1.3 s to inflate).
  static constexpr png_byte kSkipped[] = "tEXt\0zTXt\0iTXt\0iCCP";  // 4 names, NUL after each
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, kSkipped, 4);
  png_read_info(png, info);
  *w = png_get_image_width(png, info);
  *h = png_get_image_height(png, info);
  if (decode) {
    uint8_t* out = alloc(ctx, *w, *h);
    if (out == nullptr) {
      png_destroy_read_struct(&png, &info, nullptr);
      return true;
    }
    png_set_expand(png);  // palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != static_cast<size_t>(*w) * 3) {
      png_error(png, "unexpected row size after conversion to RGB");
    }
    rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * static_cast<size_t>(*h)));
    if (rows == nullptr) png_error(png, "out of memory");
    for (int64_t y = 0; y < *h; ++y) rows[y] = out + static_cast<size_t>(y * *w * 3);
    png_read_image(png, rows);
    png_read_end(png, nullptr);
  }
  std::free(rows);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

const char* ImageFormatName(ImageFormat f) {
  switch (f) {
    case ImageFormat::kJpeg:
      return "jpeg";
    case ImageFormat::kPng:
      return "png";
    case ImageFormat::kWebp:
      return "webp";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

ImageFormat SniffImageFormat(std::string_view b) {
  if (b.size() >= 3 && b.substr(0, 3) == "\xFF\xD8\xFF") return ImageFormat::kJpeg;
  if (b.size() >= 8 && b.substr(0, 8) == "\x89PNG\r\n\x1A\n") return ImageFormat::kPng;
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") {
    return ImageFormat::kWebp;
  }
  return ImageFormat::kUnknown;
}

StatusOr<ImageHeader> ReadImageHeader(std::string_view bytes) {
  ImageHeader h;
  h.format = SniffImageFormat(bytes);
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  switch (h.format) {
    case ImageFormat::kUnknown:
      return Status(StatusCode::kInvalidArgument,
                    "the data is not a JPEG, PNG or WebP image (unknown magic number)",
                    "image_unsupported");
    case ImageFormat::kJpeg: {
      JpegError e{};
      if (!RunJpeg(data, bytes.size(), kJpegHeader, &e, &h.width, &h.height, nullptr, nullptr)) {
        return Invalid(h.format, e.message);
      }
      return h;
    }
    case ImageFormat::kPng: {
      PngState s{data, bytes.size(), 0, {}};
      if (!RunPng(&s, false, &h.width, &h.height, nullptr, nullptr)) {
        return Invalid(h.format, s.message);
      }
      return h;
    }
    case ImageFormat::kWebp: {
      int w = 0, hh = 0;
      if (!WebPGetInfo(data, bytes.size(), &w, &hh)) return Invalid(h.format, "a bad header");
      h.width = w;
      h.height = hh;
      return h;
    }
  }
  return h;
}

StatusOr<RgbImage> DecodeImage(std::string_view bytes, const ImageLimits& limits) {
  ASSIGN_OR_RETURN(ImageHeader h, ReadImageHeader(bytes));
  RETURN_IF_ERROR(CheckLimits(h, limits));
  RgbImage img;
  AllocCtx ctx{&limits, h.format, Status::Ok(), &img};
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  int64_t w = 0, hh = 0;
  switch (h.format) {
    case ImageFormat::kJpeg: {
      JpegError e{};
      if (!RunJpeg(data, bytes.size(), kJpegDecode, &e, &w, &hh, AllocChecked, &ctx)) {
        return Invalid(h.format, e.message);
      }
      break;
    }
    case ImageFormat::kPng: {
      PngState s{data, bytes.size(), 0, {}};
      if (!RunPng(&s, true, &w, &hh, AllocChecked, &ctx)) return Invalid(h.format, s.message);
      break;
    }
    case ImageFormat::kWebp: {
      if (AllocChecked(&ctx, h.width, h.height) == nullptr) break;
      size_t stride = static_cast<size_t>(h.width) * 3;
      if (WebPDecodeRGBInto(data, bytes.size(), img.pixels.data(), img.pixels.size(),
                            static_cast<int>(stride)) == nullptr) {
        return Invalid(h.format, "corrupt or truncated data");
      }
      break;
    }
    case ImageFormat::kUnknown:
      break;
  }
  RETURN_IF_ERROR(ctx.status);
  return img;
}

}  // namespace modelfn
