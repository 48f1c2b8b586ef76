#include "pipeline/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace modelfn {
namespace {

double Bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double Bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Weights are fixed point with kPrecision fraction bits, so that a tap of an 8-bit sample times
// its weight, summed over the taps, fits in 32 bits (Pillow's 8-bit resampling does the same, which
// is why its results are matched exactly rather than within a level).
constexpr int kPrecision = 32 - 8 - 2;

// For each output index, the first contributing input index and the normalised weights.
struct Taps {
  std::vector<int64_t> first;
  std::vector<int32_t> count;
  size_t stride = 0;             // weights per output index (the widest window)
  std::vector<int32_t> weights;  // [out][stride], fixed point, zero past `count`
};

Taps MakeTaps(int64_t in, int64_t out, double (*f)(double), double support) {
  Taps t;
  double scale = static_cast<double>(in) / static_cast<double>(out);
  double stretch = std::max(scale, 1.0);
  double reach = support * stretch;
  t.stride = static_cast<size_t>(std::ceil(reach) * 2 + 1);
  t.weights.assign(t.stride * static_cast<size_t>(out), 0);
  std::vector<double> w(t.stride);
  for (int64_t o = 0; o < out; ++o) {
    double center = (static_cast<double>(o) + 0.5) * scale;
    int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - reach + 0.5), 0);
    int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + reach + 0.5), in);
    hi = std::min<int64_t>(hi, lo + static_cast<int64_t>(t.stride));
    double sum = 0;
    for (int64_t i = lo; i < hi; ++i) {
      double v = f((static_cast<double>(i) - center + 0.5) / stretch);
      w[static_cast<size_t>(i - lo)] = v;
      sum += v;
    }
    int32_t* fixed = &t.weights[static_cast<size_t>(o) * t.stride];
    for (int64_t i = 0; i < hi - lo; ++i) {
      double v = sum != 0 ? w[static_cast<size_t>(i)] / sum : w[static_cast<size_t>(i)];
      v *= static_cast<double>(1 << kPrecision);
      fixed[i] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
    }
    t.first.push_back(lo);
    t.count.push_back(static_cast<int32_t>(hi - lo));
  }
  return t;
}

inline uint8_t Clip8(int32_t acc) {
  int32_t v = acc >> kPrecision;  // acc started at half a unit: this rounds
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// The horizontal pass: each output pixel of a row from a window of the input row.
RgbImage PassX(const RgbImage& in, int64_t out_w, const Taps& t) {
  RgbImage o;
  o.width = out_w;
  o.height = in.height;
  o.pixels.resize(static_cast<size_t>(o.width * o.height * 3));
  for (int64_t y = 0; y < o.height; ++y) {
    const uint8_t* row = &in.pixels[static_cast<size_t>(y * in.width * 3)];
    uint8_t* dst = &o.pixels[static_cast<size_t>(y * out_w * 3)];
    for (int64_t x = 0; x < out_w; ++x) {
      const int32_t* w = &t.weights[static_cast<size_t>(x) * t.stride];
      const uint8_t* src = row + t.first[static_cast<size_t>(x)] * 3;
      int32_t r = 1 << (kPrecision - 1), g = r, b = r;
      for (int32_t i = 0; i < t.count[static_cast<size_t>(x)]; ++i) {
        r += src[i * 3] * w[i];
        g += src[i * 3 + 1] * w[i];
        b += src[i * 3 + 2] * w[i];
      }
      dst[x * 3] = Clip8(r);
      dst[x * 3 + 1] = Clip8(g);
      dst[x * 3 + 2] = Clip8(b);
    }
  }
  return o;
}

// The vertical pass: each output row from a window of input rows, along whole rows (in the order
// they lie in memory).
RgbImage PassY(const RgbImage& in, int64_t out_h, const Taps& t) {
  RgbImage o;
  o.width = in.width;
  o.height = out_h;
  size_t row_len = static_cast<size_t>(in.width * 3);
  o.pixels.resize(row_len * static_cast<size_t>(out_h));
  std::vector<int32_t> acc(row_len);
  for (int64_t y = 0; y < out_h; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecision - 1));
    const int32_t* w = &t.weights[static_cast<size_t>(y) * t.stride];
    for (int32_t i = 0; i < t.count[static_cast<size_t>(y)]; ++i) {
      const uint8_t* src =
          &in.pixels[static_cast<size_t>(t.first[static_cast<size_t>(y)] + i) * row_len];
      int32_t k = w[i];
      for (size_t j = 0; j < row_len; ++j) acc[j] += src[j] * k;
    }
    uint8_t* dst = &o.pixels[static_cast<size_t>(y) * row_len];
    for (size_t j = 0; j < row_len; ++j) dst[j] = Clip8(acc[j]);
  }
  return o;
}

}  // namespace

RgbImage ResizeRgb(const RgbImage& img, int64_t out_w, int64_t out_h, const std::string& filter) {
  if (img.width == out_w && img.height == out_h) return img;
  if (filter == "nearest") {
    RgbImage o;
    o.width = out_w;
    o.height = out_h;
    o.pixels.resize(static_cast<size_t>(out_w * out_h * 3));
    for (int64_t y = 0; y < out_h; ++y) {
      int64_t sy = std::min(img.height - 1, static_cast<int64_t>((static_cast<double>(y) + 0.5) *
                                                                 img.height / out_h));
      for (int64_t x = 0; x < out_w; ++x) {
        int64_t sx = std::min(img.width - 1, static_cast<int64_t>((static_cast<double>(x) + 0.5) *
                                                                  img.width / out_w));
        for (int c = 0; c < 3; ++c) {
          o.pixels[static_cast<size_t>((y * out_w + x) * 3 + c)] =
              img.pixels[static_cast<size_t>((sy * img.width + sx) * 3 + c)];
        }
      }
    }
    return o;
  }
  double (*f)(double) = filter == "bicubic" ? Bicubic : Bilinear;
  double support = filter == "bicubic" ? 2.0 : 1.0;
  // No copy of the source: a decoded image may be max_pixels * 3 bytes.
  if (img.width == out_w) return PassY(img, out_h, MakeTaps(img.height, out_h, f, support));
  RgbImage wide = PassX(img, out_w, MakeTaps(img.width, out_w, f, support));
  if (wide.height == out_h) return wide;
  return PassY(wide, out_h, MakeTaps(wide.height, out_h, f, support));
}

void ImageToFloats(const RgbImage& img, const ImageSpec& spec, float* out) {
  RgbImage resized;
  const RgbImage* r = &img;
  if (img.width != spec.width || img.height != spec.height) {
    resized = ResizeRgb(img, spec.width, spec.height, spec.resize);
    r = &resized;
  }
  bool bgr = spec.color == "BGR";
  bool planes = spec.layout == "NCHW";
  size_t hw = static_cast<size_t>(spec.width * spec.height);
  // Each channel maps 256 sample values: the same arithmetic once per value, not per pixel.
  float lut[3][256];
  for (size_t c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      lut[c][v] = static_cast<float>((v * spec.scale - spec.mean[c]) / spec.std[c]);
    }
  }
  const uint8_t* px = r->pixels.data();
  for (size_t c = 0; c < 3; ++c) {
    size_t src = bgr ? 2 - c : c;
    const float* map = lut[c];
    if (planes) {
      float* plane = out + c * hw;
      for (size_t p = 0; p < hw; ++p) plane[p] = map[px[p * 3 + src]];
    } else {
      for (size_t p = 0; p < hw; ++p) out[p * 3 + c] = map[px[p * 3 + src]];
    }
  }
}

StatusOr<Tensor> ImagesToTensor(const std::vector<std::string_view>& encoded, const ImageSpec& spec,
                                const std::string& name) {
  if (encoded.empty()) {
    return Status(StatusCode::kInvalidArgument, "input '" + name + "' holds no images",
                  "invalid_request");
  }
  ImageLimits limits{spec.max_width, spec.max_height, spec.max_pixels};
  int64_t n = static_cast<int64_t>(encoded.size());
  Tensor t;
  t.name = name;
  t.dtype = DType::kFp32;
  t.shape = spec.layout == "NCHW" ? std::vector<int64_t>{n, 3, spec.height, spec.width}
                                  : std::vector<int64_t>{n, spec.height, spec.width, 3};
  size_t per = static_cast<size_t>(3 * spec.height * spec.width);
  t.data.resize(static_cast<size_t>(n) * per * sizeof(float));
  for (size_t i = 0; i < encoded.size(); ++i) {
    auto img = DecodeImage(encoded[i], limits);
    if (!img.ok()) {
      return img.status().WithContext("input '" + name + "', image " + std::to_string(i));
    }
    ImageToFloats(*img, spec, t.MutableAs<float>() + i * per);
  }
  return t;
}

}  // namespace modelfn
