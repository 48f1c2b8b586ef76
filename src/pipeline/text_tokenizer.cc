#include "pipeline/text_tokenizer.h"

#include "pipeline/tokenizer/tokenizer_abi.h"

namespace modelfn {
namespace {

// Takes ownership of an ABI error message.
std::string TakeMessage(char* err) {
  std::string m = err ? err : "unknown tokenizer error";
  mfn_tok_string_free(err);
  return m;
}

}  // namespace

bool TextTokenizer::Available() { return true; }
const char* TextTokenizer::UnavailableReason() { return ""; }

StatusOr<std::unique_ptr<TextTokenizer>> TextTokenizer::Load(std::string_view json,
                                                             size_t max_length,
                                                             const std::string& origin) {
  MfnTokenizer* t = nullptr;
  char* err = nullptr;
  int32_t rc = mfn_tok_load(reinterpret_cast<const uint8_t*>(json.data()), json.size(), max_length,
                            &t, &err);
  if (rc != MFN_TOK_OK) {
    std::string m = TakeMessage(err);
    if (rc == MFN_TOK_INTERNAL) return InternalError(origin + ": " + m);
    return Status(StatusCode::kInvalidArgument, origin + " is not a usable tokenizer.json: " + m,
                  "invalid_tokenizer");
  }
  return std::unique_ptr<TextTokenizer>(new TextTokenizer(t));
}

TextTokenizer::~TextTokenizer() { mfn_tok_free(tok_); }

StatusOr<TokenBatch> TextTokenizer::Encode(const std::vector<std::string_view>& texts) const {
  std::vector<const uint8_t*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(texts.size());
  lens.reserve(texts.size());
  for (std::string_view s : texts) {
    ptrs.push_back(reinterpret_cast<const uint8_t*>(s.data()));
    lens.push_back(s.size());
  }
  MfnTokenBatch* b = nullptr;
  char* err = nullptr;
  int32_t rc = mfn_tok_encode_batch(tok_, ptrs.data(), lens.data(), texts.size(), &b, &err);
  if (rc != MFN_TOK_OK) {
    std::string m = TakeMessage(err);
    if (rc == MFN_TOK_INVALID_UTF8 || rc == MFN_TOK_ENCODE_FAILED)
      return Status(StatusCode::kInvalidArgument, m, "invalid_text");
    return InternalError("tokenizer: " + m);
  }
  size_t rows = 0, cols = 0;
  const int64_t *ids = nullptr, *mask = nullptr, *types = nullptr;
  mfn_tok_batch_view(b, &rows, &cols, &ids, &mask, &types);
  TokenBatch out;
  out.rows = static_cast<int64_t>(rows);
  out.cols = static_cast<int64_t>(cols);
  size_t n = rows * cols;
  if (n > 0) {
    out.input_ids.assign(ids, ids + n);
    out.attention_mask.assign(mask, mask + n);
    out.token_type_ids.assign(types, types + n);
  }
  mfn_tok_batch_free(b);
  return out;
}

}  // namespace modelfn
