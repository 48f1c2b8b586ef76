#include "function/fn_args.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

namespace modelfn {
namespace {

// Runs ParseArgs on `argv` (after the program name) with the environment as it is.
int Parse(std::vector<std::string> argv, FnArgs* args) {
  std::vector<char*> ptrs;
  static std::string prog = "modelfn-fn";
  ptrs.push_back(prog.data());
  for (std::string& a : argv) ptrs.push_back(a.data());
  return ParseArgs(static_cast<int>(ptrs.size()), ptrs.data(), args);
}

class FnArgsTest : public testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : {"MODELFN_MODEL", "MODELFN_ORT_INTRA_OP_THREADS", "MODELFN_ORT_SPIN",
                          "MODELFN_BATCHING", "PORT", "AWS_LAMBDA_RUNTIME_API"})
      unsetenv(v);
  }
  void TearDown() override { SetUp(); }
};

TEST_F(FnArgsTest, ThreadsDefaultToAutoAndTheFlagWinsOverTheEnvironment) {
  FnArgs a;
  ASSERT_EQ(Parse({"--model", "m"}, &a), 0);
  EXPECT_EQ(a.threads, "");
  EXPECT_EQ(a.spin, "");
  setenv("MODELFN_ORT_INTRA_OP_THREADS", "3", 1);
  setenv("MODELFN_ORT_SPIN", "on", 1);
  FnArgs b;
  ASSERT_EQ(Parse({"--model", "m"}, &b), 0);
  EXPECT_EQ(b.threads, "3");
  EXPECT_EQ(b.spin, "on");
  FnArgs c;
  ASSERT_EQ(Parse({"--model", "m", "--threads", "auto"}, &c), 0);
  EXPECT_EQ(c.threads, "auto");
}

TEST_F(FnArgsTest, BadThreadSettingsAreUsageErrors) {
  FnArgs a;
  EXPECT_EQ(Parse({"--model", "m", "--threads", "0"}, &a), 2);
  setenv("MODELFN_ORT_INTRA_OP_THREADS", "many", 1);
  FnArgs b;
  EXPECT_EQ(Parse({"--model", "m"}, &b), 2);
  unsetenv("MODELFN_ORT_INTRA_OP_THREADS");
  setenv("MODELFN_ORT_SPIN", "sometimes", 1);
  FnArgs c;
  EXPECT_EQ(Parse({"--model", "m"}, &c), 2);
}

TEST_F(FnArgsTest, PortsWorkersAndUnknownArguments) {
  FnArgs a;
  ASSERT_EQ(Parse({"--model", "m", "--port", "0", "--workers", "3"}, &a), 0);
  EXPECT_EQ(a.port, 0);
  EXPECT_TRUE(a.port_given);
  EXPECT_EQ(a.workers, 3);
  FnArgs b;
  EXPECT_EQ(Parse({"--model", "m", "--port", "65536"}, &b), 2);
  FnArgs c;
  EXPECT_EQ(Parse({"--model", "m", "--nope"}, &c), 2);
  FnArgs d;
  EXPECT_EQ(Parse({}, &d), 2);  // no model
  FnArgs e;
  EXPECT_EQ(Parse({"--help"}, &e), -1);
}

}  // namespace
}  // namespace modelfn
