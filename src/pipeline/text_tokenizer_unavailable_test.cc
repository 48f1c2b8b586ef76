// The TextTokenizer of builds without the Rust tokenizer (no cargo, or a cross build), linked
// alone so that every build tests it, whichever tokenizer its own functions get.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pipeline/text_tokenizer.h"

namespace modelfn {
namespace {

using ::testing::HasSubstr;

TEST(TextTokenizerUnavailableTest, EveryLoadIsRefusedAsPipelineUnsupportedWithTheReason) {
  EXPECT_FALSE(TextTokenizer::Available());
  EXPECT_STREQ(TextTokenizer::UnavailableReason(), "no cargo in this test build");
  auto t = TextTokenizer::Load("{\"model\": {}}", 0, "models/x/tokenizer.json");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().reason(), "pipeline_unsupported");
  EXPECT_THAT(t.status().message(), HasSubstr("models/x/tokenizer.json"));
  EXPECT_THAT(t.status().message(), HasSubstr("no cargo in this test build"));
}

}  // namespace
}  // namespace modelfn
