#include "common/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

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

TEST(JsonTest, RejectsMalformedInput) {
  const char* bad[] = {"",     "{",        "[1,]",        "[1 2]",    "{\"a\" 1}", "{a:1}",
                       "nul",  "01",       "1.",          "-",        "\"abc",     "\"\\x\"",
                       "[1]x", "\"\x01\"", "\"\\ud800\"", "{\"a\":}", "1e",        "[\"\xff\"]"};
  for (const char* text : bad) {
    auto j = Json::Parse(text);
    EXPECT_FALSE(j.ok()) << "accepted: " << text;
    if (!j.ok()) {
      EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(j.status().reason(), "invalid_json");
      EXPECT_EQ(j.status().message().rfind("invalid JSON", 0), 0u) << j.status().message();
    }
  }
}

TEST(JsonTest, ErrorsNameTheByteOffset) {
  const std::pair<const char*, const char*> cases[] = {
      {"[1, 2, }", "at byte 7"}, {"{\"a\" 1}", "at byte 5"}, {"[1]x", "at byte 3"},
      {"  nul", "at byte 2"},    {"[1,]", "at byte 3"},
  };
  for (const auto& [text, where] : cases) {
    auto j = Json::Parse(text);
    ASSERT_FALSE(j.ok()) << text;
    EXPECT_NE(j.status().message().find(where), std::string::npos)
        << text << ": " << j.status().message();
  }
}

TEST(JsonTest, DeepNestingIsRejectedNotACrash) {
  std::string deep(100000, '[');
  auto j = Json::Parse(deep);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("nesting too deep"), std::string::npos);
  std::string closed = std::string(100000, '[') + std::string(100000, ']');
  j = Json::Parse(closed);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("nesting too deep"), std::string::npos);
  std::string ok(64, '[');
  ok += std::string(64, ']');
  EXPECT_TRUE(Json::Parse(ok).ok());
  std::string over = "[" + ok + "]";
  EXPECT_FALSE(Json::Parse(over).ok());
  std::string objects;
  for (int i = 0; i < 65; ++i) objects += "{\"a\":";
  objects += "1" + std::string(65, '}');
  j = Json::Parse(objects);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("nesting too deep"), std::string::npos);
  Json::ParseOptions shallow;
  shallow.max_depth = 2;
  EXPECT_TRUE(Json::Parse("[[1]]", shallow).ok());
  EXPECT_FALSE(Json::Parse("[[[1]]]", shallow).ok());
}

TEST(JsonTest, NumbersBeyondDoubleAreRefused) {
  for (const char* text : {"1e999", "-1e999", "[1, 2e400]", "{\"a\": [1e309]}"}) {
    auto j = Json::Parse(text);
    EXPECT_FALSE(j.ok()) << text;
    if (!j.ok()) {
      EXPECT_EQ(j.status().reason(), "invalid_json");
    }
  }
  auto tiny = Json::Parse("1e-999");
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->AsDouble(), 0.0);
}

// Integers beyond 64 bits (JavaScript writes 1e20 as "100000000000000000000") read as doubles;
// the ones that fit stay exact integers, and strings that look like numbers are left alone.
TEST(JsonTest, WideIntegersBecomeDoubles) {
  auto j = Json::Parse(
      R"([18446744073709551616, -9223372036854775809, 100000000000000000000, )"
      R"(18446744073709551615, -9223372036854775808, "18446744073709551616", {"k": 1e2}])");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  const auto& a = j->AsArray();
  EXPECT_FALSE(a[0].is_integral());
  EXPECT_EQ(a[0].AsDouble(), 18446744073709551616.0);
  EXPECT_EQ(a[1].AsDouble(), -9223372036854775809.0);
  EXPECT_EQ(a[2].AsDouble(), 1e20);
  EXPECT_TRUE(a[3].is_integral());
  EXPECT_EQ(a[3].AsUint64(), 18446744073709551615u);
  EXPECT_EQ(a[4].AsInt64(), INT64_MIN);
  EXPECT_EQ(a[5].AsString(), "18446744073709551616");
  // A text refused for another reason still names its own fault.
  auto bad = Json::Parse("[100000000000000000000, 01]");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().reason(), "invalid_json");
  auto quoted = Json::Parse(R"(["x\"1, 99999999999999999999", 18446744073709551616])");
  ASSERT_TRUE(quoted.ok()) << quoted.status().ToString();
  EXPECT_EQ(quoted->AsArray()[0].AsString(), "x\"1, 99999999999999999999");
  EXPECT_EQ(quoted->AsArray()[1].AsDouble(), 18446744073709551616.0);
}

TEST(JsonTest, DuplicateKeysAreRefused) {
  for (const char* text :
       {R"({"a":1,"a":2})", R"({"x":{"b":[],"b":null}})", R"({"a":1,"\u0061":2})"}) {
    auto j = Json::Parse(text);
    ASSERT_FALSE(j.ok()) << text;
    EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(j.status().reason(), "duplicate_key");
    EXPECT_NE(j.status().message().find("duplicate key"), std::string::npos);
  }
  EXPECT_TRUE(Json::Parse(R"({"a":{"a":1},"b":[{"a":1},{"a":2}]})").ok());
}

std::string ObjectWithKeys(int n, const std::string& last_key) {
  std::string text = "{";
  for (int i = 0; i < n; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += "\"" + last_key + "\":0}";
  return text;
}

// Objects were built with a scan of the members so far per key: a million keys took hours. Now
// duplicates are found with a hash set, so this finishes well within the test timeout.
TEST(JsonTest, HugeObjectsParseAndFindDuplicatesInLinearTime) {
  const int n = 1000000;
  auto j = Json::Parse(ObjectWithKeys(n, "end"));
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  ASSERT_EQ(j->AsObject().size(), static_cast<size_t>(n) + 1);
  EXPECT_EQ(j->Find("k999999")->AsInt64(), 999999);
  Json copy = j->Clone();
  EXPECT_EQ(copy.AsObject().size(), static_cast<size_t>(n) + 1);
  auto dup = Json::Parse(ObjectWithKeys(n, "k123456"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().reason(), "duplicate_key");
  EXPECT_NE(dup.status().message().find("k123456"), std::string::npos);
}

TEST(JsonTest, ElementCountIsBounded) {
  Json::ParseOptions few;
  few.max_elements = 4;
  EXPECT_TRUE(Json::Parse("[1,2,3]", few).ok());  // the array and its three numbers
  auto j = Json::Parse("[1,2,3,4]", few);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().reason(), "invalid_json");
  EXPECT_NE(j.status().message().find("more than 4 values"), std::string::npos);
  EXPECT_FALSE(Json::Parse(R"({"a":{"b":{"c":{"d":1}}}})", few).ok());
}

TEST(JsonTest, StringsKeepEmbeddedNul) {
  auto j = Json::Parse(R"(["a\u0000b"])");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->AsArray()[0].AsString(), std::string("a\0b", 3));
  EXPECT_EQ(j->Dump(), R"(["a\u0000b"])");
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
  auto j = Json::Parse("[-0.0, -0E-0, 0, -0]");
  ASSERT_TRUE(j.ok());
  EXPECT_FALSE(j->AsArray()[0].is_integral());
  EXPECT_TRUE(std::signbit(j->AsArray()[0].AsDouble()));
  EXPECT_TRUE(std::signbit(j->AsArray()[1].AsDouble()));
  EXPECT_TRUE(j->AsArray()[3].is_integral());  // "-0" is the integer 0
  EXPECT_EQ(j->Dump(), "[-0.0,-0.0,0,0]");
  EXPECT_EQ(Json::Parse(j->Dump())->Dump(), "[-0.0,-0.0,0,0]");
}

// Found by fuzz/json_fuzz: a double's shortest text may be all digits, past uint64.
TEST(JsonTest, LargeDoublesRoundTrip) {
  for (const char* text : {"131170777777777777777.655", "1.8446744073709552e19", "-9.9e21", "1e22",
                           "123456789012345678.5"}) {
    auto j = Json::Parse(text);
    ASSERT_TRUE(j.ok()) << text;
    std::string once = j->Dump();
    auto again = Json::Parse(once);
    ASSERT_TRUE(again.ok()) << text << " -> " << once;
    EXPECT_EQ(again->AsDouble(), j->AsDouble()) << once;
    EXPECT_EQ(again->Dump(), once);
  }
  EXPECT_EQ(Json::Parse("131170777777777777777.655")->Dump(), "1.3117077777777777e+20");
}

TEST(JsonTest, CloneIsDeep) {
  auto j = Json::Parse(R"({"a":[1,{"b":"c"}]})");
  ASSERT_TRUE(j.ok());
  Json c = j->Clone();
  j->Set("a", Json::Int(5));
  EXPECT_EQ(c.Dump(), R"({"a":[1,{"b":"c"}]})");
}

// A request with one to three bytes inserted (from JSON's own characters, a control byte and
// bytes that break UTF-8) or erased at random.
std::string MutatedRequest(std::mt19937& rng) {
  std::string text =
      R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1.5,-2,3e4,0]}],)"
      R"("id":"r\u00e9\n","parameters":{"binary_data_output":true,"n":null}})";
  const std::string alphabet = "{}[],:\"\\ u0e.-+9tfn\x01\xc3\xff";
  for (int m = 0, n = 1 + static_cast<int>(rng() % 3); m < n; ++m) {
    size_t at = rng() % (text.size() + 1);
    if (rng() % 2) {
      text.insert(at, 1, alphabet[rng() % alphabet.size()]);
    } else if (at < text.size()) {
      text.erase(at, 1);
    }
  }
  return text;
}

// Mutations of a request: every outcome is a document or an invalid_json/duplicate_key error
// whose offset, when named, lies inside the text.
TEST(JsonTest, MutatedTextGivesTypedErrors) {
  std::mt19937 rng(5);
  int ok = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = MutatedRequest(rng);
    auto j = Json::Parse(text);
    if (j.ok()) {
      ++ok;
      continue;
    }
    ASSERT_EQ(j.status().code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE(j.status().reason() == "invalid_json" || j.status().reason() == "duplicate_key");
    const std::string m = j.status().message();
    size_t at = m.find("at byte ");
    if (at != std::string::npos) {
      EXPECT_LE(std::stoul(m.substr(at + 8)), text.size()) << m;
    }
  }
  EXPECT_GT(ok, 100);
}

// Validate must accept exactly what Parse accepts and fail with Parse's error, so a text the
// gateway checked parses in the function. Hand-picked cases for every limit, then mutations.
void ExpectValidateAgrees(const std::string& text, const Json::ParseOptions& options) {
  auto parsed = Json::Parse(text, options);
  auto checked = Json::Validate(text, options);
  ASSERT_EQ(checked.ok(), parsed.ok()) << text;
  if (parsed.ok()) {
    EXPECT_EQ(*checked, parsed->type()) << text;
    return;
  }
  EXPECT_EQ(checked.status().code(), parsed.status().code()) << text;
  EXPECT_EQ(checked.status().reason(), parsed.status().reason()) << text;
  EXPECT_EQ(checked.status().message(), parsed.status().message()) << text;
}

TEST(JsonTest, ValidateAgreesWithParse) {
  Json::ParseOptions defaults;
  for (const std::string& text :
       std::vector<std::string>{R"({"a":[1,2.5,"x",true,null,{"b":-0}]})",
                                "[]",
                                "\"s\"",
                                "3",
                                "-0.0",
                                "true",
                                "null",
                                R"({"a":1,"a":2})",
                                R"({"x":{"b":[],"b":null}})",
                                R"({"a":1,"\u0061":2})",
                                "100000000000000000000",
                                "[18446744073709551616, -9223372036854775809]",
                                "1e400",
                                R"({"a":1)",
                                "{} x",
                                "",
                                "  ",
                                "\xff",
                                "[1,]",
                                ObjectWithKeys(40, "k7"),
                                ObjectWithKeys(40, "end"),
                                std::string(70, '[') + std::string(70, ']')}) {
    ExpectValidateAgrees(text, defaults);
  }
  Json::ParseOptions few;
  few.max_elements = 4;
  few.max_depth = 2;
  for (const char* text :
       {"[1,2,3]", "[1,2,3,4]", R"({"a":{"b":1}})", R"({"a":{"b":{"c":1}}})", "[[[]]]", "[[]]"}) {
    ExpectValidateAgrees(text, few);
  }
  auto object = Json::Validate(R"({"a":[1]})", defaults);
  ASSERT_TRUE(object.ok());
  EXPECT_EQ(*object, Json::Type::kObject);

  std::mt19937 rng(11);
  int accepted = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string text = MutatedRequest(rng);
    ExpectValidateAgrees(text, defaults);
    accepted += Json::Validate(text, defaults).ok() ? 1 : 0;
  }
  EXPECT_GT(accepted, 50);
  EXPECT_LT(accepted, 5000);
}

}  // namespace
}  // namespace modelfn
