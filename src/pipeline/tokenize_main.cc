// modelfn-tokenize: encodes texts with TextTokenizer and prints what a model would be fed, for the
// parity test against the Python `tokenizers` package (tests/test_tokenizer_parity.py).
// Usage: modelfn-tokenize TOKENIZER.json MAX_LENGTH BATCH < TEXTS
//   TEXTS: records of a 4-byte little-endian length and that many bytes of UTF-8.
//   Prints one line per text: "ids|attention_mask|type_ids", each space-separated, texts encoded
//   BATCH at a time (padded per batch). MAX_LENGTH 0 keeps tokenizer.json's truncation.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/build_info.h"
#include "pipeline/text_tokenizer.h"

namespace {

void PrintRow(const std::vector<int64_t>& v, int64_t row, int64_t cols, std::string* out) {
  for (int64_t j = 0; j < cols; ++j) {
    if (j) out->push_back(' ');
    *out += std::to_string(v[static_cast<size_t>(row * cols + j)]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (bool json; modelfn::WantsVersion(argc, argv, &json)) {
    std::puts((json ? modelfn::VersionJson("modelfn-tokenize", "")
                    : modelfn::VersionText("modelfn-tokenize", ""))
                  .c_str());
    return 0;
  }
  if (argc != 4) {
    std::fprintf(stderr, "usage: modelfn-tokenize TOKENIZER.json MAX_LENGTH BATCH < TEXTS\n");
    return 2;
  }
  std::ifstream f(argv[1], std::ios::binary);
  std::stringstream json;
  json << f.rdbuf();
  auto tok = modelfn::TextTokenizer::Load(json.str(), std::strtoul(argv[2], nullptr, 10), argv[1]);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().message().c_str());
    return 1;
  }
  size_t batch = std::strtoul(argv[3], nullptr, 10);
  std::vector<std::string> texts;
  unsigned char len[4];
  while (std::cin.read(reinterpret_cast<char*>(len), 4)) {
    uint32_t n = len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<uint32_t>(len[3]) << 24);
    std::string s(n, '\0');
    std::cin.read(s.data(), n);
    texts.push_back(std::move(s));
  }
  std::string out;
  for (size_t i = 0; i < texts.size(); i += batch) {
    std::vector<std::string_view> views;
    for (size_t j = i; j < texts.size() && j < i + batch; ++j) views.push_back(texts[j]);
    auto b = (*tok)->Encode(views);
    if (!b.ok()) {
      std::fprintf(stderr, "texts %zu..: %s\n", i, b.status().message().c_str());
      return 1;
    }
    for (int64_t r = 0; r < b->rows; ++r) {
      PrintRow(b->input_ids, r, b->cols, &out);
      out.push_back('|');
      PrintRow(b->attention_mask, r, b->cols, &out);
      out.push_back('|');
      PrintRow(b->token_type_ids, r, b->cols, &out);
      out.push_back('\n');
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
