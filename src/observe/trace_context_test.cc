#include "observe/trace_context.h"

#include <gtest/gtest.h>

namespace modelfn::observe {
namespace {

// The example of the W3C Trace Context recommendation.
constexpr const char* kExample = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

TEST(TraceContextTest, TraceparentRoundTrips) {
  auto c = ParseTraceparent(kExample);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->TraceIdHex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(c->SpanIdHex(), "b7ad6b7169203331");
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(FormatTraceparent(*c), kExample);
  auto unsampled = ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled);
  // A later version may carry more after the flags.
  EXPECT_TRUE(
      ParseTraceparent("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what").has_value());
}

TEST(TraceContextTest, MalformedTraceparentsAreIgnored) {
  for (const char* bad :
       {"", "00", "garbage",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",    // uppercase
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",    // zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",    // zero parent
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    // version ff
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",  // v00 has no more
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-0100",
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01"}) {
    EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
  }
}

TEST(TraceContextTest, XRayHeadersConvertBothWays) {
  // AWS's documented example.
  auto c = ParseXRay("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->TraceIdHex(), "5759e988bd862e3fe1be46a994272793");
  EXPECT_EQ(c->SpanIdHex(), "53995c3f42cd8ad8");
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(FormatXRay(*c),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
  EXPECT_EQ(FormatTraceparent(*c), "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01");
  // W3C to X-Ray and back.
  auto w = ParseTraceparent(kExample);
  auto back = ParseXRay(FormatXRay(*w));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(FormatTraceparent(*back), kExample);
  // Fields in another order, a Lineage, no Parent, spaces.
  auto root_only = ParseXRay(
      " Sampled=0 ; Lineage=a87bd80c:1|68fd508a:5;Root=1-5759e988-bd862e3fe1be46a994272793");
  ASSERT_TRUE(root_only.has_value());
  EXPECT_FALSE(root_only->sampled);
  EXPECT_EQ(FormatXRay(*root_only), "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0");
  for (const char* bad :
       {"", "Parent=53995c3f42cd8ad8", "Root=2-5759e988-bd862e3fe1be46a994272793",
        "Root=1-5759e988-bd862e3fe1be46a99427279", "Root=1-5759e988x-bd862e3fe1be46a994272793",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz"}) {
    EXPECT_FALSE(ParseXRay(bad).has_value()) << bad;
  }
}

TEST(TraceContextTest, NewIdsCarryTheTimeAndAreNeverZero) {
  std::mt19937_64 rng(1);
  auto id = NewTraceId(rng, 0x5759e988);
  TraceContext c;
  c.trace_id = id;
  EXPECT_EQ(c.TraceIdHex().substr(0, 8), "5759e988");
  EXPECT_NE(NewSpanId(rng), NewSpanId(rng));
}

}  // namespace
}  // namespace modelfn::observe
