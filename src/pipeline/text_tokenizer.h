// A Hugging Face tokenizer.json, loaded, turning batches of texts into the integer tensors a text
// model takes (input ids, attention mask, token type ids). Backed by the `tokenizers` crate
// (src/pipeline/tokenizer, a Rust static library) when the build has it; see Available().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct MfnTokenizer;

namespace modelfn {

// Texts encoded together: rows x cols row-major, every row padded to the same length.
struct TokenBatch {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> attention_mask;  // 1 for a token, 0 for padding
  std::vector<int64_t> token_type_ids;
};

class TextTokenizer {
 public:
  // True when this build links the tokenizer; when false, Load always fails (see there) and
  // UnavailableReason() says why.
  static bool Available();
  static const char* UnavailableReason();

  // Parses tokenizer.json bytes (`origin` names the file in messages). `max_length` > 0 truncates
  // every text to that many tokens, special tokens included (tokenizer.json's own truncation
  // otherwise). Padding: tokenizer.json's; without one, to the longest text of each batch.
  // Errors: InvalidArgument (reason "invalid_tokenizer") for a file the crate refuses;
  // Unimplemented (reason "pipeline_unsupported") when !Available().
  static StatusOr<std::unique_ptr<TextTokenizer>> Load(std::string_view json, size_t max_length,
                                                       const std::string& origin);

  ~TextTokenizer();
  TextTokenizer(const TextTokenizer&) = delete;
  TextTokenizer& operator=(const TextTokenizer&) = delete;

  // Encodes `texts` (UTF-8) as one batch, with the tokenizer's special tokens. Thread-safe.
  // Errors: InvalidArgument (reason "invalid_text") for a text that is not valid UTF-8 or that
  // the tokenizer refuses, the message naming its index; Internal for a failure inside the crate.
  StatusOr<TokenBatch> Encode(const std::vector<std::string_view>& texts) const;

 private:
  explicit TextTokenizer(MfnTokenizer* t) : tok_(t) {}
  MfnTokenizer* tok_;
};

}  // namespace modelfn
