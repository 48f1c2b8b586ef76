#include "faces/trigger_prefixes.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

TEST(TriggerPrefixesTest, SeparateFoldersAreAccepted) {
  EXPECT_TRUE(CheckTriggerPrefixes("incoming/", "results/", "failed/").ok());
  // Beside the input, even when a name starts like it.
  EXPECT_TRUE(CheckTriggerPrefixes("in/", "in-results/", "in-failed/").ok());
}

TEST(TriggerPrefixesTest, APrefixWithoutTrailingSlashIsRefused) {
  EXPECT_FALSE(CheckTriggerPrefixes("incoming", "results/", "failed/").ok());
  EXPECT_FALSE(CheckTriggerPrefixes("incoming/", "results", "failed/").ok());
  EXPECT_FALSE(CheckTriggerPrefixes("incoming/", "results/", "").ok());
}

TEST(TriggerPrefixesTest, OutputOrFailuresInsideTheInputWouldLoop) {
  Status s = CheckTriggerPrefixes("incoming/", "incoming/results/", "failed/");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("loop"), std::string::npos);
  EXPECT_FALSE(CheckTriggerPrefixes("incoming/", "results/", "incoming/failed/").ok());
  EXPECT_FALSE(CheckTriggerPrefixes("data/", "data/", "failed/").ok());
}

}  // namespace
}  // namespace modelfn
