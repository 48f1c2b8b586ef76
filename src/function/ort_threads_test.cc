#include "function/ort_threads.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

OrtThreadsFacts Facts(int cpus, bool lambda, bool forks = false, int runners = 0) {
  OrtThreadsFacts f;
  f.cpus = cpus;
  f.one_at_a_time = lambda;
  f.forks_instances = forks;
  f.batch_runners = runners;
  return f;
}

TEST(OrtThreadsTest, AutoGivesALambdaInstanceEveryCpu) {
  for (std::string_view s : {"", "auto"}) {
    auto c = ChooseOrtThreads(s, "", Facts(4, true));
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->intra_op, 4);
    EXPECT_EQ(
        c->reason,
        "auto: one event at a time, 4 CPUs; spinning: one event at a time, billed by duration");
    EXPECT_TRUE(c->spin);
  }
  EXPECT_EQ(ChooseOrtThreads("auto", "", Facts(1, true))->intra_op, 1);
  EXPECT_FALSE(ChooseOrtThreads("auto", "", Facts(1, true))->spin);  // nobody to spin
  EXPECT_EQ(ChooseOrtThreads("auto", "", Facts(64, true))->intra_op, kMaxAutoIntraOpThreads);
}

TEST(OrtThreadsTest, OnLambdaTheMemoryDecidesTheShareOfCpu) {
  OrtThreadsFacts f = Facts(2, true);
  f.lambda_memory_mb = 1024;  // under one vCPU's worth, though the guest shows two
  auto small = ChooseOrtThreads("auto", "", f);
  EXPECT_EQ(small->intra_op, 1);
  EXPECT_FALSE(small->spin);
  EXPECT_EQ(small->reason, "auto: one event at a time, 1 vCPU for 1024 MB");
  f.cpus = 6;
  f.lambda_memory_mb = 3538;
  EXPECT_EQ(ChooseOrtThreads("auto", "", f)->intra_op, 2);
  EXPECT_TRUE(ChooseOrtThreads("auto", "", f)->spin);
  f.lambda_memory_mb = 10240;
  EXPECT_EQ(ChooseOrtThreads("auto", "", f)->intra_op, 5);  // 10240 / 1769, rounded down
  f.cpus = 2;
  EXPECT_EQ(ChooseOrtThreads("auto", "", f)->intra_op, 2);  // never above what the guest has
}

TEST(OrtThreadsTest, AutoGivesConcurrentRequestsOneThreadEach) {
  auto c = ChooseOrtThreads("auto", "", Facts(8, false));
  EXPECT_EQ(c->intra_op, 1);
  EXPECT_EQ(c->reason, "auto: concurrent requests, one thread each");
  EXPECT_FALSE(c->spin);
  // Concurrent requests on several threads each: spinning would take their CPUs.
  EXPECT_FALSE(ChooseOrtThreads("4", "auto", Facts(8, false))->spin);
}

TEST(OrtThreadsTest, AutoSharesTheCpusBetweenBatchRunners) {
  EXPECT_EQ(ChooseOrtThreads("auto", "", Facts(8, false, false, 2))->intra_op, 4);
  EXPECT_EQ(ChooseOrtThreads("auto", "", Facts(8, false, false, 3))->intra_op, 2);
  EXPECT_EQ(ChooseOrtThreads("auto", "", Facts(2, false, false, 4))->intra_op, 1);
}

TEST(OrtThreadsTest, AutoKeepsATemplateOnOneThread) {
  auto c = ChooseOrtThreads("auto", "", Facts(8, true, true));
  EXPECT_EQ(c->intra_op, 1);
  EXPECT_NE(c->reason.find("fork"), std::string::npos);
  EXPECT_FALSE(c->spin);
}

TEST(OrtThreadsTest, SpinningCanBeSetEitherWay) {
  auto on = ChooseOrtThreads("2", "on", Facts(2, false));
  EXPECT_TRUE(on->spin);
  EXPECT_EQ(on->reason, "set; spinning: set");
  auto off = ChooseOrtThreads("auto", "off", Facts(4, true));
  EXPECT_EQ(off->intra_op, 4);
  EXPECT_FALSE(off->spin);
  EXPECT_TRUE(ChooseOrtThreads("2", "auto", Facts(2, true))->spin);  // a set count, one event
  auto bad = ChooseOrtThreads("auto", "yes", Facts(2, true));
  EXPECT_EQ(bad.status().reason(), "invalid_request");
}

TEST(OrtThreadsTest, ANumberIsTakenAsIs) {
  auto c = ChooseOrtThreads("3", "", Facts(1, false, true));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->intra_op, 3);
  EXPECT_EQ(c->reason, "set");
  EXPECT_EQ(ChooseOrtThreads("256", "", Facts(1, false))->intra_op, 256);
}

TEST(OrtThreadsTest, AnythingElseIsATypedError) {
  for (std::string_view s : {"0", "257", "-1", "two", "2x", " 2", "auto ", "1.5"}) {
    auto c = ChooseOrtThreads(s, "", Facts(2, false));
    ASSERT_FALSE(c.ok()) << s;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.status().reason(), "invalid_request");
  }
}

}  // namespace
}  // namespace modelfn
