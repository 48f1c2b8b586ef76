#include "pipeline/text_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace modelfn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A BERT-style tokenizer.json as the Python `tokenizers` package writes one, with a tiny vocab.
constexpr char kWordPiece[] = R"({
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [
    {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true},
    {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true},
    {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true},
    {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true}],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                 "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
  "decoder": null,
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5,
                      "film": 6, "##s": 7, "i": 8, "loved": 9, "this": 10, "cafe": 11}}
})";

std::unique_ptr<TextTokenizer> MustLoad(size_t max_length = 0) {
  auto t = TextTokenizer::Load(kWordPiece, max_length, "tokenizer.json");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(TextTokenizerTest, UnavailableBuildRefusesWithPipelineUnsupported) {
  if (TextTokenizer::Available()) GTEST_SKIP() << "this build has the tokenizer";
  auto t = TextTokenizer::Load(kWordPiece, 0, "tokenizer.json");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().reason(), "pipeline_unsupported");
  EXPECT_THAT(t.status().message(), HasSubstr(TextTokenizer::UnavailableReason()));
}

TEST(TextTokenizerTest, EncodesWithSpecialTokensAndPadsToTheLongest) {
  if (!TextTokenizer::Available()) GTEST_SKIP() << TextTokenizer::UnavailableReason();
  auto t = MustLoad();
  ASSERT_NE(t, nullptr);
  auto b = t->Encode({"I loved this FILM", "films, Café"});
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->rows, 2);
  EXPECT_EQ(b->cols, 6);
  // "," is not in the vocabulary: [UNK]; "Café" lowercases and loses its accent.
  EXPECT_THAT(b->input_ids, ElementsAre(2, 8, 9, 10, 6, 3, 2, 6, 7, 1, 11, 3));
  EXPECT_THAT(b->attention_mask, ElementsAre(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1));
  EXPECT_THAT(b->token_type_ids, ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  auto short_one = t->Encode({"hello", "hello world world"});
  ASSERT_TRUE(short_one.ok());
  EXPECT_THAT(short_one->input_ids, ElementsAre(2, 4, 3, 0, 0, 2, 4, 5, 5, 3));
  EXPECT_THAT(short_one->attention_mask, ElementsAre(1, 1, 1, 0, 0, 1, 1, 1, 1, 1));
}

TEST(TextTokenizerTest, TruncatesToMaxLengthKeepingSpecialTokens) {
  if (!TextTokenizer::Available()) GTEST_SKIP() << TextTokenizer::UnavailableReason();
  auto t = MustLoad(4);
  ASSERT_NE(t, nullptr);
  auto b = t->Encode({"hello world hello world hello"});
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(b->input_ids, ElementsAre(2, 4, 5, 3));
}

TEST(TextTokenizerTest, EmptyAndWhitespaceOnlyTextsAreSpecialTokensOnly) {
  if (!TextTokenizer::Available()) GTEST_SKIP() << TextTokenizer::UnavailableReason();
  auto t = MustLoad();
  ASSERT_NE(t, nullptr);
  auto b = t->Encode({"", " \t\n"});
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(b->input_ids, ElementsAre(2, 3, 2, 3));
  auto none = t->Encode({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->rows, 0);
}

TEST(TextTokenizerTest, InvalidUtf8IsInvalidTextNamingTheItem) {
  if (!TextTokenizer::Available()) GTEST_SKIP() << TextTokenizer::UnavailableReason();
  auto t = MustLoad();
  ASSERT_NE(t, nullptr);
  auto b = t->Encode({"hello", "bad \xff\xfe byte"});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.status().reason(), "invalid_text");
  EXPECT_THAT(b.status().message(), HasSubstr("text 1"));
}

TEST(TextTokenizerTest, MalformedTokenizerJsonIsInvalidTokenizer) {
  if (!TextTokenizer::Available()) GTEST_SKIP() << TextTokenizer::UnavailableReason();
  for (const char* bad : {"", "{", "{\"model\": {\"type\": \"NoSuchModel\"}}", "[1, 2]"}) {
    auto t = TextTokenizer::Load(bad, 0, "tok.json");
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().reason(), "invalid_tokenizer") << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("tok.json"));
  }
}

}  // namespace
}  // namespace modelfn
