#include "package/sam_stack.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

PlatformConfig TwoFunctions() {
  PlatformConfig c;
  c.store = "s3://models/prod";
  FunctionConfig a;
  a.name = "face-detect";
  a.model = "faces";
  a.traffic = {{"1.0.0", 75}, {"2.0.0", 25}};
  FunctionConfig b;
  b.name = "digits";
  b.model = "digits";
  b.memory_mb = 64;
  c.functions = {a, b};
  return c;
}

TEST(SamStackTest, LogicalIdsAreAlphanumericCamelCase) {
  EXPECT_EQ(LogicalId("face-detect"), "FaceDetect");
  EXPECT_EQ(LogicalId("my_model.v2"), "MyModelV2");
  EXPECT_EQ(LogicalId("--"), "X");
}

TEST(SamStackTest, CanaryDeploysTheSmallerWeightWithItsPercent) {
  auto s = RenderSamStack(TwoFunctions(), SamStackOptions());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(s->yaml.find("MODELFN_MODEL: \"s3://models/prod/faces@2.0.0\""), std::string::npos);
  EXPECT_NE(s->yaml.find("CanaryPercentage: 25"), std::string::npos);
  EXPECT_NE(s->yaml.find("Type: !Ref FaceDetectCanary"), std::string::npos);
  EXPECT_EQ(s->yaml.find("DigitsCanary"), std::string::npos);
  // No max_instances in the config: no reserved concurrency.
  EXPECT_EQ(s->yaml.find("ReservedConcurrentExecutions"), std::string::npos);
  // 64 MB is below Lambda's minimum: raised, and said so.
  EXPECT_NE(s->yaml.find("MemorySize: 128"), std::string::npos);
  ASSERT_EQ(s->notes.size(), 1u);
  EXPECT_NE(s->notes[0].find("functions.digits.memory_mb"), std::string::npos);
}

TEST(SamStackTest, RolesAreLimitedToEachModelsPrefix) {
  SamStackOptions o;
  o.configured_max = {"digits"};
  auto s = RenderSamStack(TwoFunctions(), o);
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->yaml.find("ReservedConcurrentExecutions: 8"), std::string::npos);
  EXPECT_NE(s->yaml.find("\"arn:aws:s3:::models/prod/faces/*\""), std::string::npos);
  EXPECT_NE(s->yaml.find("\"arn:aws:s3:::models/prod/digits/*\""), std::string::npos);
  EXPECT_NE(s->yaml.find("Role: !GetAtt FaceDetectRole.Arn"), std::string::npos);
  EXPECT_NE(s->yaml.find("Role: !GetAtt DigitsRole.Arn"), std::string::npos);
}

TEST(SamStackTest, KeysWithoutPlansGetOneUnlimitedPlan) {
  PlatformConfig c = TwoFunctions();
  c.gateway.api_keys = true;
  auto s = RenderSamStack(c, SamStackOptions());
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->yaml.find("PlanDefault:"), std::string::npos);
  EXPECT_EQ(s->yaml.find("Throttle:"), std::string::npos);
  c.plans = {PlanConfig{"gold", 5, 10, 100, 1000}};
  s = RenderSamStack(c, SamStackOptions());
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->yaml.find("Period: DAY"), std::string::npos);
  bool noted = false;  // the monthly quota is not rendered, and said so
  for (const std::string& n : s->notes) noted = noted || n.rfind("plans.gold:", 0) == 0;
  EXPECT_TRUE(noted);
}

TEST(SamStackTest, WhatAwsCannotExpressIsRefused) {
  PlatformConfig c = TwoFunctions();
  c.gateway.jwt_enabled = true;
  EXPECT_EQ(RenderSamStack(c, SamStackOptions()).status().code(), StatusCode::kInvalidArgument);
  c = TwoFunctions();
  c.functions[0].traffic.push_back({"3.0.0", 1});
  EXPECT_EQ(RenderSamStack(c, SamStackOptions()).status().code(), StatusCode::kInvalidArgument);
  c = TwoFunctions();
  c.functions[1].command = {"./my-runtime"};
  EXPECT_EQ(RenderSamStack(c, SamStackOptions()).status().code(), StatusCode::kInvalidArgument);
  SamStackOptions o;
  o.trigger_function = "digits";
  o.trigger_bucket = "in";
  o.output_prefix = "incoming/out/";  // results would trigger the function again
  EXPECT_EQ(RenderSamStack(TwoFunctions(), o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace modelfn
