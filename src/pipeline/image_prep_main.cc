// modelfn-image-prep: decodes an image file and prepares it as a pipeline "image" input declares,
// printing what the model would be fed, for the parity test against Pillow and numpy
// (tests/test_image_parity.py).
// Usage: modelfn-image-prep INPUT_JSON IMAGE_FILE
//   INPUT_JSON: one pipeline input object, e.g. {"name":"x","source":"image","size":[8,8]}.
//   Prints the float samples in the declared layout, one per line ("%.9g"); on a refused image
//   prints the reason and message to stderr and exits 1.
#include <cstdio>
#include <string>
#include <vector>

#include "common/build_info.h"
#include "common/files.h"
#include "common/json.h"
#include "manifest/pipeline_spec.h"
#include "pipeline/image_decode.h"
#include "pipeline/image_preprocess.h"

int main(int argc, char** argv) {
  using namespace modelfn;
  if (bool json; modelfn::WantsVersion(argc, argv, &json)) {
    std::puts((json ? modelfn::VersionJson("modelfn-image-prep", "")
                    : modelfn::VersionText("modelfn-image-prep", ""))
                  .c_str());
    return 0;
  }
  if (argc != 3) {
    std::fprintf(stderr, "usage: modelfn-image-prep INPUT_JSON IMAGE_FILE\n");
    return 2;
  }
  auto json = Json::Parse(std::string(R"({"version":1,"inputs":[)") + argv[1] + "]}");
  if (!json.ok()) {
    std::fprintf(stderr, "%s\n", json.status().message().c_str());
    return 2;
  }
  auto spec = ParsePipeline(*json);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.status().message().c_str());
    return 2;
  }
  const ImageSpec& img_spec = spec->inputs[0].image;
  auto bytes = ReadFile(argv[2]);
  if (!bytes.ok()) {
    std::fprintf(stderr, "%s\n", bytes.status().message().c_str());
    return 2;
  }
  ImageLimits limits{img_spec.max_width, img_spec.max_height, img_spec.max_pixels};
  auto img = DecodeImage(*bytes, limits);
  if (!img.ok()) {
    std::fprintf(stderr, "%s: %s\n", img.status().reason().c_str(), img.status().message().c_str());
    return 1;
  }
  std::vector<float> out(static_cast<size_t>(3 * img_spec.width * img_spec.height));
  ImageToFloats(*img, img_spec, out.data());
  std::string text;
  char buf[32];
  for (float v : out) {
    std::snprintf(buf, sizeof buf, "%.9g\n", static_cast<double>(v));
    text += buf;
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}
