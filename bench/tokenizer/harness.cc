// Measurement harness for bench/tokenizer/run.sh: load time of tokenizer.json and encode time
// per text through the C ABI of src/lib.rs, and the ids of every text (one line each) for a
// parity diff against the Python `tokenizers` package.
// Usage: harness TOKENIZER.json STRINGS.bin IDS_OUT.txt   (STRINGS.bin: u32le length + UTF-8)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
extern "C" {
struct Tok;
Tok* mfn_tok_load(const uint8_t*, size_t, char**);
void mfn_tok_free(Tok*);
int64_t mfn_tok_encode(const Tok*, const uint8_t*, size_t, bool, uint32_t*, size_t, char**);
}
int main(int argc, char** argv) {
  auto t0 = std::chrono::steady_clock::now();
  std::ifstream f(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string json = ss.str();
  char* err = nullptr;
  Tok* t = mfn_tok_load(reinterpret_cast<const uint8_t*>(json.data()), json.size(), &err);
  auto t1 = std::chrono::steady_clock::now();
  if (!t) return fprintf(stderr, "load: %s\n", err), 1;
  std::ifstream in(argv[2], std::ios::binary);
  std::vector<std::string> strs;
  uint32_t n;
  while (in.read(reinterpret_cast<char*>(&n), 4)) {
    std::string s(n, '\0');
    in.read(s.data(), n);
    strs.push_back(s);
  }
  std::vector<std::vector<uint32_t>> out(strs.size());
  std::vector<uint32_t> buf(4096);
  auto t2 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < strs.size(); ++i) {
    int64_t k = mfn_tok_encode(t, reinterpret_cast<const uint8_t*>(strs[i].data()), strs[i].size(),
                               true, buf.data(), buf.size(), &err);
    if (k < 0) return fprintf(stderr, "encode %zu: %s\n", i, err), 1;
    out[i].assign(buf.begin(), buf.begin() + k);
  }
  auto t3 = std::chrono::steady_clock::now();
  FILE* o = fopen(argv[3], "w");
  for (auto& v : out) {
    for (size_t j = 0; j < v.size(); ++j) fprintf(o, j ? " %u" : "%u", v[j]);
    fputc('\n', o);
  }
  fclose(o);
  printf("{\"load_ms\": %.3f, \"encode_us_per_text\": %.2f, \"strings\": %zu}\n",
         std::chrono::duration<double, std::milli>(t1 - t0).count(),
         std::chrono::duration<double, std::micro>(t3 - t2).count() / strs.size(), strs.size());
  mfn_tok_free(t);
}
