#include "plan/report.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "plan/svg_chart.h"

namespace modelfn {
namespace plan {
namespace {

Plan SmallPlan() {
  Profile p;
  p.model = "m<o>del";
  p.version = "1";
  ProfilePoint a;
  a.cpus = 1;
  a.cold_start_ms = {100};
  a.run = {{1, {10}}};
  a.max_rps = 100;
  p.points = {a};
  CloudTarget t;
  t.id = "fake";
  t.title = "Fake & cloud";
  t.sizes = {{512, 0.5, 0}, {1024, 1, 0}};
  t.rules.billing = BillingRule::kPerRequestDuration;
  t.sources = {"https://example.invalid/pricing"};
  t.assumptions = {"idle = 600: measured once"};
  PriceBook b;
  b.version = "v1";
  b.currency = "USD";
  b.origin = "built in";
  b.targets["fake"].per_request = 1e-7;
  b.targets["fake"].active.gb_second = 1e-5;
  auto traffic = TrafficFromPattern("1rps for 2m");
  PlanOptions o;
  o.max_min_instances = 1;
  auto plan = MakePlan(p, *traffic, {{"fake", t}}, b, o);
  EXPECT_TRUE(plan.ok());
  return *plan;
}

TEST(ReportTest, JsonHoldsEveryTargetAndTheRecommendation) {
  auto j = Json::Parse(PlanToJson(SmallPlan()));
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j->Find("kind")->AsString(), "modelfn-plan");
  ASSERT_TRUE(j->Find("recommendation")->is_object());
  EXPECT_EQ(j->Find("recommendation")->Find("target")->AsString(), "fake");
  const Json& t = j->Find("targets")->AsArray()[0];
  EXPECT_EQ(t.Find("by_size")->AsArray().size(), 2u);
  EXPECT_GT(t.Find("by_size")->AsArray()[0].Find("cost_per_month")->AsDouble(), 0);
  EXPECT_EQ(t.Find("assumptions")->AsArray().size(), 1u);
}

TEST(ReportTest, HtmlHasTheFourChartsEscapedTextAndNoScript) {
  std::string html = PlanToHtml(SmallPlan());
  size_t svgs = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1))
    ++svgs;
  EXPECT_EQ(svgs, 4u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("m<o>del"), std::string::npos);
  EXPECT_NE(html.find("m&lt;o&gt;del"), std::string::npos);
  EXPECT_NE(html.find("Fake &amp; cloud"), std::string::npos);
  EXPECT_NE(html.find("https://example.invalid/pricing"), std::string::npos);
}

TEST(ReportTest, TextNamesTheCheapestConfiguration) {
  std::string text = PlanToText(SmallPlan());
  EXPECT_NE(text.find("Cheapest that meets the targets: fake"), std::string::npos) << text;
}

TEST(SvgChartTest, DrawsAPolylinePerSeriesAndSaysWhenThereIsNoData) {
  Chart c{"t",
          "x",
          "y",
          true,
          {{"a", {{128, 1}, {256, 2}}, false, false}, {"b", {{128, 3}}, true, false}}};
  std::string svg = RenderSvg(c);
  size_t lines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1))
    ++lines;
  EXPECT_EQ(lines, 2u);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  Chart empty{"nothing", "x", "y", false, {}};
  EXPECT_NE(RenderSvg(empty).find("no data"), std::string::npos);
  Chart bad{"bad", "x", "y", true, {{"n", {{0, 1}, {-1, 2}}, false, false}}};
  EXPECT_NE(RenderSvg(bad).find("no data"), std::string::npos);
}

}  // namespace
}  // namespace plan
}  // namespace modelfn
