// libFuzzer target: the Open Inference Protocol's binary tensor data never crashes the decoder,
// and what it accepts encodes back to the same bytes (BOOL normalised to 0/1) and writes JSON that
// parses. Input: [dtype][rank] then rank little-endian uint16 dims, then the tensor's bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/json.h"
#include "tensor/codec.h"

using namespace modelfn;

namespace {

void CheckJson(const std::string& text) {
  if (!Json::Parse(text).ok()) {
    fprintf(stderr, "not JSON: %.200s\n", text.c_str());
    abort();
  }
}

}  // namespace

// Work is linear in the element (and nested array) count, which the decoder bounds: a budget far
// below the server's 16M keeps each input's time about the decoder, not about the size cap.
constexpr int64_t kMaxElements = 1 << 16;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Tensor t;
  t.dtype = static_cast<DType>(data[0] % (static_cast<int>(DType::kBytes) + 1));
  size_t rank = data[1] % 5;
  size_t pos = 2;
  if (size < pos + 2 * rank) return 0;
  for (size_t i = 0; i < rank; ++i, pos += 2) t.shape.push_back(data[pos] | data[pos + 1] << 8);
  std::string_view bytes(reinterpret_cast<const char*>(data + pos), size - pos);
  if (!DecodeBinaryData(bytes, kMaxElements, &t).ok()) return 0;

  std::string again;
  if (AppendBinaryData(t, &again) != again.size()) abort();
  if (t.dtype != DType::kBool && again != bytes) abort();
  if (t.dtype == DType::kBool) {
    if (again.size() != bytes.size()) abort();
    for (size_t i = 0; i < again.size(); ++i) {
      if (again[i] != (bytes[i] != 0 ? 1 : 0)) abort();
    }
  }
  std::string nested, flat;
  JsonWriter wn(&nested);
  WriteNestedJson(t, &wn);
  JsonWriter wf(&flat);
  WriteFlatJson(t, &wf);
  CheckJson(nested);
  CheckJson(flat);
  return 0;
}
