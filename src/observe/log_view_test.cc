#include "observe/log_view.h"

#include <gtest/gtest.h>

namespace modelfn::observe {
namespace {

TEST(LogViewTest, TimestampsAndSince) {
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:01.500Z"), 1500);
  EXPECT_EQ(ParseTimestamp("2026-12-04T10:36:02.289Z"), 1796380562289);
  EXPECT_EQ(ParseTimestamp("2026-12-04T11:36:02.289+01:00"), 1796380562289);
  EXPECT_EQ(ParseTimestamp("2026-12-04T10:36:02Z"), 1796380562000);
  for (const char* bad : {"", "2026-12-04", "2026-13-04T10:36:02Z", "2026-12-04T10:36:02",
                          "2026-12-04T10:36:02Zjunk", "yesterday"}) {
    EXPECT_FALSE(ParseTimestamp(bad).has_value()) << bad;
  }
  const int64_t now = 1'000'000'000;
  EXPECT_EQ(ParseSince("30s", now).value(), now - 30'000);
  EXPECT_EQ(ParseSince("10m", now).value(), now - 600'000);
  EXPECT_EQ(ParseSince("2h", now).value(), now - 7'200'000);
  EXPECT_EQ(ParseSince("1970-01-01T00:00:01Z", now).value(), 1000);
  for (const char* bad : {"", "m", "10", "10y", "-5m", "1.5h", "99999999999999d"}) {
    EXPECT_FALSE(ParseSince(bad, now).ok()) << bad;
  }
}

TEST(LogViewTest, FiltersByTimeLevelAndRequest) {
  auto line = Json::Parse(R"({"ts":"1970-01-01T00:00:02.000Z","level":"warn","event":"request",)"
                          R"("request_id":"r1","method":"POST","path":"/v1/infer","status":400,)"
                          R"("handler_ms":0.5,"code":"shape_mismatch"})")
                  .value();
  LogFilter f;
  EXPECT_TRUE(f.Matches(line));
  f.since_ms = 1000;
  EXPECT_TRUE(f.Matches(line));
  f.since_ms = 3000;
  EXPECT_FALSE(f.Matches(line));
  f = LogFilter();
  f.min_level = LevelRank("warn");
  EXPECT_TRUE(f.Matches(line));
  f.min_level = LevelRank("error");
  EXPECT_FALSE(f.Matches(line));
  f = LogFilter();
  f.request_id = "r1";
  EXPECT_TRUE(f.Matches(line));
  f.request_id = "r2";
  EXPECT_FALSE(f.Matches(line));
  EXPECT_EQ(PrettyLine("digits", line, false),
            "00:00:02.000 digits       WARN  request r1 POST /v1/infer 400 0.5 ms shape_mismatch");
  EXPECT_NE(PrettyLine("digits", line, true).find("\033[33mWARN"), std::string::npos);
}

}  // namespace
}  // namespace modelfn::observe
