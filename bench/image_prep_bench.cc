// Times the pipeline's image preparation in-process: decode (libjpeg-turbo, libpng, libwebp),
// resize and normalise one encoded image into the float input a pipeline "image" input declares,
// as ImagesToTensor does for one request. bench/pipeline_bench.py runs it beside Pillow + numpy
// doing the same steps.
// Usage: image_prep_bench INPUT_JSON IMAGE_FILE SECONDS
//   Prints {"images": N, "ms_per_image": M} after repeating for about SECONDS (at least 5 runs).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/json.h"
#include "manifest/pipeline_spec.h"
#include "pipeline/image_preprocess.h"

int main(int argc, char** argv) {
  using namespace modelfn;
  if (argc != 4) {
    std::fprintf(stderr, "usage: image_prep_bench INPUT_JSON IMAGE_FILE SECONDS\n");
    return 2;
  }
  auto json = Json::Parse(std::string(R"({"version":1,"inputs":[)") + argv[1] + "]}");
  auto spec = json.ok() ? ParsePipeline(*json) : StatusOr<PipelineSpec>(json.status());
  auto bytes = ReadFile(argv[2]);
  if (!spec.ok() || !bytes.ok()) {
    std::fprintf(stderr, "%s\n", (!spec.ok() ? spec.status() : bytes.status()).message().c_str());
    return 2;
  }
  const ImageSpec& image = spec->inputs[0].image;
  double seconds = std::atof(argv[3]);
  std::vector<std::string_view> one = {*bytes};
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  int n = 0;
  double elapsed = 0;
  do {
    auto t = ImagesToTensor(one, image, "x");
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", t.status().message().c_str());
      return 1;
    }
    ++n;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (n < 5 || elapsed < seconds);
  std::printf("{\"images\": %d, \"ms_per_image\": %.4f}\n", n, elapsed * 1000 / n);
  return 0;
}
