// The C ABI of src/pipeline/tokenizer (Rust, the `tokenizers` crate): loading a Hugging Face
// tokenizer.json and encoding batches of UTF-8 texts. Only pipeline/text_tokenizer.cc uses it.
//
// Every function returning int32_t returns MFN_TOK_OK or an error code; on error, when `err` is
// non-null, *err receives a NUL-terminated message the caller frees with mfn_tok_string_free.
// No panic crosses the border: one becomes MFN_TOK_INTERNAL. A loaded tokenizer is immutable;
// encoding on it from several threads at once is safe. The crate starts no thread: mfn_tok_load
// turns its parallelism off for the process, so a batch is encoded on the calling thread.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  MFN_TOK_OK = 0,
  MFN_TOK_INVALID_TOKENIZER = 1,  // tokenizer.json does not parse or its settings are invalid
  MFN_TOK_INVALID_UTF8 = 2,       // a text is not valid UTF-8 (the message names which)
  MFN_TOK_ENCODE_FAILED = 3,      // the tokenizer refused a text
  MFN_TOK_BAD_ARGUMENT = 4,       // a null pointer where one is required
  MFN_TOK_INTERNAL = 5,           // a panic inside the crate
};

typedef struct MfnTokenizer MfnTokenizer;
typedef struct MfnTokenBatch MfnTokenBatch;

// Parses `len` bytes of tokenizer.json into *out (freed with mfn_tok_free). `max_length` > 0
// sets truncation to that many tokens (special tokens included), keeping tokenizer.json's other
// truncation settings; 0 keeps tokenizer.json's truncation (none if it has none). Padding is
// tokenizer.json's; without one, to the batch's longest text with the "[PAD]" token's id (0
// when the vocabulary has none).
int32_t mfn_tok_load(const uint8_t* json, size_t len, size_t max_length, MfnTokenizer** out,
                     char** err);
void mfn_tok_free(MfnTokenizer* t);
void mfn_tok_string_free(char* s);

// Encodes `n` texts (texts[i] of lens[i] bytes, UTF-8; not NUL-terminated) with special tokens,
// truncated and padded as loaded, into *out (freed with mfn_tok_batch_free): `rows` = n rows of
// `cols` tokens each.
int32_t mfn_tok_encode_batch(const MfnTokenizer* t, const uint8_t* const* texts, const size_t* lens,
                             size_t n, MfnTokenBatch** out, char** err);
// Points into a batch (valid until mfn_tok_batch_free): rows x cols row-major token ids,
// attention mask (1 for a token, 0 for padding) and token type ids. Null outputs are skipped;
// arrays are null when rows * cols is 0.
void mfn_tok_batch_view(const MfnTokenBatch* b, size_t* rows, size_t* cols, const int64_t** ids,
                        const int64_t** attention_mask, const int64_t** type_ids);
void mfn_tok_batch_free(MfnTokenBatch* b);

#ifdef __cplusplus
}
#endif
