// libFuzzer target: image decoding (JPEG, PNG, WebP request bodies) never crashes, never returns
// pixels over the limits, answers every failure with one of the image reasons, and resizes and
// normalises whatever it decodes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/image_decode.h"
#include "pipeline/image_preprocess.h"

using namespace modelfn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ImageLimits limits;
  limits.max_width = 512;
  limits.max_height = 512;
  limits.max_pixels = 64 * 1024;
  auto img = DecodeImage(bytes, limits);
  if (!img.ok()) {
    std::string r = img.status().reason();
    if (r != "image_unsupported" && r != "image_invalid" && r != "image_too_large") abort();
    return 0;
  }
  if (img->width < 1 || img->height < 1 || img->width > limits.max_width ||
      img->height > limits.max_height || img->width * img->height > limits.max_pixels ||
      img->pixels.size() != static_cast<size_t>(img->width * img->height * 3)) {
    abort();
  }
  ImageSpec spec;
  spec.width = 7;
  spec.height = 5;
  std::vector<float> out(3 * 7 * 5);
  ImageToFloats(*img, spec, out.data());
  return 0;
}
