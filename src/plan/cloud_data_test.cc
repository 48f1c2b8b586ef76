#include "plan/cloud_data.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace plan {
namespace {

TEST(CloudDataTest, TheBuiltInFilesParseAndPriceEveryTarget) {
  auto clouds = ParseClouds(BuiltInClouds());
  ASSERT_TRUE(clouds.ok()) << clouds.status().ToString();
  for (const char* id : {"aws-lambda-zip", "aws-lambda-image", "cloud-run", "azure-flex"}) {
    ASSERT_EQ(clouds->count(id), 1u) << id;
    const CloudTarget& t = clouds->at(id);
    EXPECT_FALSE(t.sizes.empty()) << id;
    EXPECT_FALSE(t.sources.empty()) << id;
    EXPECT_NE(t.rules.billing, BillingRule::kNone) << id;
  }
  EXPECT_EQ(clouds->at("aws-lambda-zip").rules.scale, ScaleKind::kPerRequest);
  EXPECT_EQ(clouds->at("aws-lambda-zip").rules.concurrency, 1);
  EXPECT_EQ(clouds->at("cloud-run").rules.scale, ScaleKind::kUtilization);
  EXPECT_GT(clouds->at("cloud-run").rules.target_cpu_utilization, 0);
  EXPECT_EQ(clouds->at("azure-flex").concurrency_by_memory.at(2048), 16);
  // Lambda: one vCPU at 1,769 MB.
  for (const Size& s : clouds->at("aws-lambda-zip").sizes)
    EXPECT_NEAR(s.vcpu, s.memory_mb / 1769.0, 0.01) << s.memory_mb;
  // Undocumented values are carried to the report.
  EXPECT_FALSE(clouds->at("aws-lambda-zip").assumptions.empty());

  auto prices = ParsePrices(BuiltInPrices(), "built in");
  ASSERT_TRUE(prices.ok()) << prices.status().ToString();
  EXPECT_FALSE(prices->version.empty());
  for (const auto& [id, t] : *clouds) {
    ASSERT_EQ(prices->targets.count(id), 1u) << id;
    EXPECT_FALSE(prices->targets.at(id).source.empty()) << id;
    EXPECT_GT(prices->targets.at(id).per_request, 0) << id;
  }
  EXPECT_FALSE(prices->targets.at("cloud-run").min_idle_whole_time);
}

TEST(CloudDataTest, ABadFileNamesTheTargetAndField) {
  auto c = ParseClouds(
      "{\"targets\":{\"x\":{\"title\":\"X\",\"sizes\":[{\"memory_mb\":128}],"
      "\"concurrency\":{\"default\":1}}}}");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().reason(), "invalid_cloud_data");
  EXPECT_NE(c.status().message().find("x.sizes[0].vcpu"), std::string::npos)
      << c.status().message();
  auto p = ParsePrices(
      "{\"price_version\":\"1\",\"currency\":\"USD\",\"targets\":{\"x\":{"
      "\"source\":\"s\",\"date_checked\":\"d\",\"per_request\":-1}}}",
      "mine.json");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().reason(), "invalid_prices");
  EXPECT_NE(p.status().message().find("mine.json"), std::string::npos);
  EXPECT_NE(p.status().message().find("x.per_request"), std::string::npos);
  EXPECT_FALSE(ParsePrices("{}", "empty").ok());
  EXPECT_FALSE(ParsePrices("not json", "junk").ok());
}

}  // namespace
}  // namespace plan
}  // namespace modelfn
