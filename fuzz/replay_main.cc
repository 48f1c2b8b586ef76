// Replays a fuzz target's committed corpus without libFuzzer: each file given on the command line,
// or under a folder given, goes once through LLVMFuzzerTestOneInput, in name order. A target that
// finds a bug aborts, which fails the test. Exit 1 when a folder is missing or holds no input, so
// a corpus that vanished cannot pass silently.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    fprintf(stderr, "usage: %s <corpus dir or input>...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_regular_file(argv[i], ec)) {
      files.push_back(argv[i]);
    } else {
      for (const auto& entry : fs::recursive_directory_iterator(argv[i], ec)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    }
    if (ec || files.empty()) {
      fprintf(stderr, "%s: no inputs (%s)\n", argv[i], ec ? ec.message().c_str() : "empty");
      return 1;
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::ifstream in(path, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        fprintf(stderr, "%s: cannot read\n", path.c_str());
        return 1;
      }
      fprintf(stderr, "replay %s (%zu bytes)\n", path.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
    printf("%s: %zu inputs replayed\n", argv[i], files.size());
  }
  return 0;
}
