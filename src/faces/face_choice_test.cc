#include "faces/face_choice.h"

#include <gtest/gtest.h>

#include <map>

namespace modelfn {
namespace {

EnvFn Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(FaceChoiceTest, NothingSetServesHttp) {
  auto c = ChooseFace(std::nullopt, Env({}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->face, Face::kHttp);
  EXPECT_EQ(c->reason, "default");
}

TEST(FaceChoiceTest, EachPlatformsVariablePicksItsFace) {
  auto lambda = ChooseFace(std::nullopt, Env({{"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"}}));
  EXPECT_EQ(lambda->face, Face::kLambda);
  EXPECT_EQ(lambda->endpoint, "127.0.0.1:9001");
  EXPECT_EQ(lambda->reason, "env AWS_LAMBDA_RUNTIME_API");
  auto azure = ChooseFace(std::nullopt, Env({{"FUNCTIONS_CUSTOMHANDLER_PORT", "7071"}}));
  EXPECT_EQ(azure->face, Face::kAzure);
  EXPECT_EQ(azure->endpoint, "7071");
  auto cloud_run = ChooseFace(std::nullopt, Env({{"K_SERVICE", "digits"}, {"PORT", "8080"}}));
  EXPECT_EQ(cloud_run->face, Face::kCloudEvents);
  EXPECT_EQ(cloud_run->reason, "env K_SERVICE");
  auto port = ChooseFace(std::nullopt, Env({{"PORT", "9000"}}));
  EXPECT_EQ(port->face, Face::kHttp);
  EXPECT_EQ(port->reason, "env PORT");
}

// Lambda's variable wins over the others (a Lambda container image may also set PORT), Azure's
// over Google's.
TEST(FaceChoiceTest, PrecedenceIsLambdaAzureCloudRunPort) {
  auto all = Env({{"AWS_LAMBDA_RUNTIME_API", "a:1"},
                  {"FUNCTIONS_CUSTOMHANDLER_PORT", "7071"},
                  {"K_SERVICE", "s"},
                  {"PORT", "1"}});
  EXPECT_EQ(ChooseFace(std::nullopt, all)->face, Face::kLambda);
  auto no_lambda = Env({{"FUNCTIONS_CUSTOMHANDLER_PORT", "7071"}, {"K_SERVICE", "s"}});
  EXPECT_EQ(ChooseFace(std::nullopt, no_lambda)->face, Face::kAzure);
}

TEST(FaceChoiceTest, EmptyVariablesCountAsUnset) {
  auto c = ChooseFace(std::nullopt, Env({{"AWS_LAMBDA_RUNTIME_API", ""}, {"K_SERVICE", ""}}));
  EXPECT_EQ(c->face, Face::kHttp);
}

TEST(FaceChoiceTest, TheFlagWinsOverTheEnvironment) {
  auto c = ChooseFace("http", Env({{"AWS_LAMBDA_RUNTIME_API", "a:1"}, {"K_SERVICE", "s"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->face, Face::kHttp);
  EXPECT_EQ(c->reason, "flag --face http");
  EXPECT_EQ(ChooseFace("cloudevents", Env({}))->face, Face::kCloudEvents);
  EXPECT_EQ(ChooseFace("lambda", Env({{"AWS_LAMBDA_RUNTIME_API", "a:1"}}))->face, Face::kLambda);
}

TEST(FaceChoiceTest, AFlagThatCannotBeServedIsRefused) {
  auto unknown = ChooseFace("gcp", Env({}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().reason(), "invalid_request");
  EXPECT_FALSE(ChooseFace("lambda", Env({})).ok());
  EXPECT_FALSE(ChooseFace("azure", Env({{"PORT", "1"}})).ok());
}

TEST(FaceChoiceTest, NamesRoundTrip) {
  for (Face f : {Face::kLambda, Face::kHttp, Face::kCloudEvents, Face::kAzure}) {
    auto c =
        ChooseFace(std::string(FaceName(f)),
                   Env({{"AWS_LAMBDA_RUNTIME_API", "a:1"}, {"FUNCTIONS_CUSTOMHANDLER_PORT", "2"}}));
    ASSERT_TRUE(c.ok()) << FaceName(f);
    EXPECT_EQ(c->face, f);
  }
}

}  // namespace
}  // namespace modelfn
