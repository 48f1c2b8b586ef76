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

// For each output index, the first contributing input index and the normalised weights.
struct Taps {
  std::vector<int64_t> first;
  std::vector<std::vector<double>> weights;
};

Taps MakeTaps(int64_t in, int64_t out, double (*f)(double), double support) {
  Taps t;
  double scale = static_cast<double>(in) / static_cast<double>(out);
  double stretch = std::max(scale, 1.0);
  double reach = support * stretch;
  for (int64_t o = 0; o < out; ++o) {
    double center = (static_cast<double>(o) + 0.5) * scale;
    int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - reach + 0.5), 0);
    int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + reach + 0.5), in);
    std::vector<double> w;
    double sum = 0;
    for (int64_t i = lo; i < hi; ++i) {
      double v = f((static_cast<double>(i) - center + 0.5) / stretch);
      w.push_back(v);
      sum += v;
    }
    if (sum != 0) {
      for (double& v : w) v /= sum;
    }
    t.first.push_back(lo);
    t.weights.push_back(std::move(w));
  }
  return t;
}

uint8_t Clamp8(double v) {
  long r = std::lround(v);
  return static_cast<uint8_t>(std::clamp<long>(r, 0, 255));
}

// One convolution pass along x (horizontal) or y.
RgbImage Pass(const RgbImage& in, int64_t out_len, bool horizontal, double (*f)(double),
              double support) {
  RgbImage o;
  o.width = horizontal ? out_len : in.width;
  o.height = horizontal ? in.height : out_len;
  o.pixels.resize(static_cast<size_t>(o.width * o.height * 3));
  Taps t = MakeTaps(horizontal ? in.width : in.height, out_len, f, support);
  for (int64_t y = 0; y < o.height; ++y) {
    for (int64_t x = 0; x < o.width; ++x) {
      int64_t k = horizontal ? x : y;
      const std::vector<double>& w = t.weights[static_cast<size_t>(k)];
      for (int c = 0; c < 3; ++c) {
        double acc = 0;
        for (size_t i = 0; i < w.size(); ++i) {
          int64_t sx = horizontal ? t.first[static_cast<size_t>(k)] + static_cast<int64_t>(i) : x;
          int64_t sy = horizontal ? y : t.first[static_cast<size_t>(k)] + static_cast<int64_t>(i);
          acc += w[i] * in.pixels[static_cast<size_t>((sy * in.width + sx) * 3 + c)];
        }
        o.pixels[static_cast<size_t>((y * o.width + x) * 3 + c)] = Clamp8(acc);
      }
    }
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
  if (img.width == out_w) return Pass(img, out_h, false, f, support);
  RgbImage wide = Pass(img, out_w, true, f, support);
  if (wide.height == out_h) return wide;
  return Pass(wide, out_h, false, f, support);
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
  for (size_t p = 0; p < hw; ++p) {
    for (size_t c = 0; c < 3; ++c) {
      size_t src = bgr ? 2 - c : c;
      double v = r->pixels[p * 3 + src] * spec.scale;
      v = (v - spec.mean[c]) / spec.std[c];
      out[planes ? c * hw + p : p * 3 + c] = static_cast<float>(v);
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
