#include "gateway/version_stage.h"

#include <gtest/gtest.h>

#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::FakeBackend;
using testing::HeldContinuation;
using testing::MakeExchange;

class VersionStageTest : public ::testing::Test {
 protected:
  VersionStageTest() {
    fn_.name = "digits";
    fn_.variants = {{&stable_, 3}, {&canary_, 1}};
    fn_.total_weight = 4;
  }
  ExchangePtr Exchange(std::string id = "", std::string version = "") {
    auto ex = MakeExchange("POST", "/v1/infer");
    ex->function = &fn_;
    ex->request_id = std::move(id);
    ex->version = std::move(version);
    return ex;
  }
  FakeBackend stable_{"1"}, canary_{"2"};
  FunctionRoute fn_;
  VersionStage stage_;
  HeldContinuation next_;
};

TEST_F(VersionStageTest, PinnedVersionIsServedOrRefused) {
  auto ex = Exchange("", "2");
  EXPECT_EQ(stage_.OnRequest(ex, next_), Verdict::kNext);
  EXPECT_EQ(ex->variant->backend, &canary_);
  auto missing = Exchange("", "9");
  EXPECT_EQ(stage_.OnRequest(missing, next_), Verdict::kAnswered);
  EXPECT_EQ(missing->response.status, 404);
}

TEST_F(VersionStageTest, WeightsSplitThePointRange) {
  for (uint64_t p : {0, 1, 2}) EXPECT_EQ(VersionStage::ByWeight(&fn_, p)->backend, &stable_);
  EXPECT_EQ(VersionStage::ByWeight(&fn_, 3)->backend, &canary_);
  EXPECT_EQ(VersionStage::ByWeight(&fn_, 7)->backend, &canary_);  // modulo the total
}

TEST_F(VersionStageTest, StickySplitFollowsTheRequestId) {
  fn_.sticky_traffic = true;
  for (const char* id : {"a", "b", "client-42", "zz"}) {
    auto first = Exchange(id);
    stage_.OnRequest(first, next_);
    for (int i = 0; i < 5; ++i) {
      auto again = Exchange(id);
      stage_.OnRequest(again, next_);
      EXPECT_EQ(again->variant, first->variant) << id;
    }
    EXPECT_EQ(first->variant, VersionStage::ByWeight(&fn_, Fnv1a(id)));
  }
}

TEST_F(VersionStageTest, RandomSplitReachesEveryVersion) {
  int canary = 0;
  for (int i = 0; i < 400; ++i) {
    auto ex = Exchange("same-id");
    stage_.OnRequest(ex, next_);
    canary += ex->variant->backend == &canary_;
  }
  EXPECT_GT(canary, 0);
  EXPECT_LT(canary, 400);
}

// Pinned: a change would move sticky clients to another version.
TEST(Fnv1aTest, ValuesAreStable) {
  EXPECT_EQ(Fnv1a(""), 1469598103934665603ULL);
  EXPECT_EQ(Fnv1a("a"), 4953267810257967366ULL);
}

}  // namespace
}  // namespace modelfn::gateway
