#include "pipeline/text_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/json.h"
#include "pipeline/pipeline.h"

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

// The threads of this process, from /proc.
int Threads() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Encoding and padding a batch runs on the calling thread: the crate's thread pool (rayon, one
// thread per CPU, which its padding would otherwise start and keep) is never started.
TEST(TextTokenizerTest, EncodingABatchStartsNoThread) {
  if (!TextTokenizer::Available()) GTEST_SKIP() << TextTokenizer::UnavailableReason();
  const int before = Threads();
  auto t = MustLoad();
  ASSERT_NE(t, nullptr);
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) texts.push_back(std::string("hello ") + std::string(i % 7, 'w'));
  std::vector<std::string_view> views(texts.begin(), texts.end());
  auto b = t->Encode(views);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->rows, 64);
  EXPECT_EQ(Threads(), before);
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

TEST(TextTokenizerTest, PipelineFeedsTextInputsInTheirDtypeAndChecksTextLength) {
  if (!TextTokenizer::Available()) GTEST_SKIP() << TextTokenizer::UnavailableReason();
  ModelSchema s;
  s.inputs.push_back({"ids", DType::kInt32, {-1, -1}, {"N", "T"}});
  s.inputs.push_back({"x", DType::kFp32, {-1, 4}, {"N", ""}});
  s.inputs.push_back({"mask", DType::kInt64, {-1, -1}, {"N", "T"}});
  s.outputs.push_back({"y", DType::kFp32, {-1, 2}, {"N", ""}});
  auto doc =
      Json::Parse(R"({"version":1,"inputs":[{"name":"ids","source":"text","tokenizer":"t.json",)"
                  R"("field":"input_ids","max_text_bytes":12},{"name":"mask","source":"text",)"
                  R"("tokenizer":"t.json","field":"attention_mask","max_text_bytes":12}]})");
  ASSERT_TRUE(doc.ok());
  auto spec = ParsePipeline(*doc);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  std::shared_ptr<const TextTokenizer> tok = MustLoad();
  auto p = Pipeline::FromSpec(*spec, s, {}, tok);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE((*p)->has_text());
  EXPECT_TRUE((*p)->IsTextInput(0));
  EXPECT_FALSE((*p)->IsTextInput(1));
  auto b = (*p)->Tokenize({"hello", "world hello"});
  ASSERT_TRUE(b.ok());
  std::vector<Tensor> inputs(3);
  (*p)->FillTextInputs(*b, 1, 1, &inputs);  // the second row only
  EXPECT_EQ(inputs[0].dtype, DType::kInt32);
  EXPECT_EQ(inputs[0].shape, (std::vector<int64_t>{1, 4}));
  std::vector<int32_t> ids(4);
  ASSERT_EQ(inputs[0].data.size(), 16u);
  std::memcpy(ids.data(), inputs[0].data.data(), 16);
  EXPECT_THAT(ids, ElementsAre(2, 5, 4, 3));
  EXPECT_EQ(inputs[2].dtype, DType::kInt64);
  EXPECT_EQ(inputs[2].shape, (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(inputs[1].shape.empty());  // not a text input: left alone
  auto too_long = (*p)->Tokenize({"hello", "hello world!!"});
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().reason(), "text_too_long");
  EXPECT_THAT(too_long.status().message(), HasSubstr("text 1"));
}

}  // namespace
}  // namespace modelfn
