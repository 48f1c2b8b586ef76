#include "common/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace modelfn {
namespace {

TEST(JsonTest, ParsesNestedDocument) {
  auto j =
      Json::Parse(R"( {"a": [1, -2, 3.5, true, null, "x\ny"], "b": {"c": "\u00e9\ud83d\ude00"}} )");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  const Json* a = j->Find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->AsArray().size(), 6u);
  EXPECT_TRUE(a->AsArray()[0].is_integral());
  EXPECT_EQ(a->AsArray()[1].AsInt64(), -2);
  EXPECT_FALSE(a->AsArray()[2].is_integral());
  EXPECT_DOUBLE_EQ(a->AsArray()[2].AsDouble(), 3.5);
  EXPECT_TRUE(a->AsArray()[3].AsBool());
  EXPECT_TRUE(a->AsArray()[4].is_null());
  EXPECT_EQ(a->AsArray()[5].AsString(), "x\ny");
  EXPECT_EQ(j->Find("b")->Find("c")->AsString(), "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(j->Find("missing"), nullptr);
}

TEST(JsonTest, IntegersStayExact) {
  auto j = Json::Parse("[9223372036854775807, -9223372036854775808, 18446744073709551615, 1e2]");
  ASSERT_TRUE(j.ok());
  const auto& a = j->AsArray();
  EXPECT_EQ(a[0].AsInt64(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(a[1].AsInt64(), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(a[2].is_integral());
  EXPECT_FALSE(a[2].fits_int64());
  EXPECT_EQ(a[2].AsUint64(), std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(a[3].is_integral());
  EXPECT_EQ(a[3].AsDouble(), 100.0);
}

TEST(JsonTest, RejectsMalformedInputWithOffset) {
  const char* bad[] = {"",     "{",        "[1,]",        "[1 2]",    "{\"a\" 1}", "{a:1}",
                       "nul",  "01",       "1.",          "-",        "\"abc",     "\"\\x\"",
                       "[1]x", "\"\x01\"", "\"\\ud800\"", "{\"a\":}", "1e"};
  for (const char* text : bad) {
    auto j = Json::Parse(text);
    EXPECT_FALSE(j.ok()) << "accepted: " << text;
    if (!j.ok()) {
      EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(j.status().message().find("invalid JSON at byte"), std::string::npos);
    }
  }
  auto j = Json::Parse("[1, 2, }");
  EXPECT_NE(j.status().message().find("byte 7"), std::string::npos) << j.status().message();
}

TEST(JsonTest, DeepNestingIsRejectedNotACrash) {
  std::string deep(100000, '[');
  auto j = Json::Parse(deep);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("nesting too deep"), std::string::npos);
  std::string ok(60, '[');
  ok += std::string(60, ']');
  EXPECT_TRUE(Json::Parse(ok).ok());
}

TEST(JsonTest, HugeExponentBecomesInfinity) {
  auto j = Json::Parse("1e999");
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(std::isinf(j->AsDouble()));
}

TEST(JsonTest, WriterRoundTrips) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("f").Float(0.1f).Key("d").Double(0.1).Key("n").Double(NAN);
  w.Key("s").String("q\"\\\x01").Key("a").BeginArray().Int(-3).Uint(18446744073709551615ull);
  w.Bool(false).Null().EndArray().EndObject();
  EXPECT_EQ(
      out,
      R"({"f":0.1,"d":0.1,"n":null,"s":"q\"\\\u0001","a":[-3,18446744073709551615,false,null]})");
  auto back = Json::Parse(out);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Dump(), out);
}

TEST(JsonTest, NegativeZeroKeepsItsSign) {  // found by fuzz/json_fuzz
  auto j = Json::Parse("[-0, -0E-0, 0]");
  ASSERT_TRUE(j.ok());
  EXPECT_FALSE(j->AsArray()[0].is_integral());
  EXPECT_TRUE(std::signbit(j->AsArray()[0].AsDouble()));
  EXPECT_EQ(j->Dump(), "[-0,-0,0]");
  EXPECT_EQ(Json::Parse(j->Dump())->Dump(), "[-0,-0,0]");
}

TEST(JsonTest, DuplicateKeysLastWins) {
  auto j = Json::Parse(R"({"a":1,"a":2})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->AsObject().size(), 1u);
  EXPECT_EQ(j->Find("a")->AsInt64(), 2);
}

TEST(JsonTest, CloneIsDeep) {
  auto j = Json::Parse(R"({"a":[1,{"b":"c"}]})");
  ASSERT_TRUE(j.ok());
  Json c = j->Clone();
  j->Set("a", Json::Int(5));
  EXPECT_EQ(c.Dump(), R"({"a":[1,{"b":"c"}]})");
}

}  // namespace
}  // namespace modelfn
