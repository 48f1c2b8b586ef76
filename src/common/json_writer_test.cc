#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/json.h"

namespace modelfn {
namespace {

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

TEST(JsonStringTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(Quote(std::string("a\0b", 3)), R"("a\u0000b")");
  EXPECT_EQ(Quote("\x01\x1f\x7f"), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(Quote("\n\r\t\b\f\"\\"), R"("\n\r\t\b\f\"\\")");
  EXPECT_EQ(Quote("\xc2\x85\xc2\x9b"), R"("\u0085\u009b")");  // C1 controls NEL, CSI
}

// Plain runs are scanned eight bytes at a time: every kind of byte that needs a look of its own,
// at every offset from an eight-byte boundary, inside runs that are plain around it.
TEST(JsonStringTest, SpecialBytesAreFoundAtEveryOffsetOfALongRun) {
  const std::pair<std::string, std::string> specials[] = {{"\"", R"(\")"},
                                                          {"\\", R"(\\)"},
                                                          {"\n", R"(\n)"},
                                                          {std::string(1, '\0'), R"(\u0000)"},
                                                          {"\x1f", R"(\u001f)"},
                                                          {"\x7f", R"(\u007f)"},
                                                          {"\xc2\x85", R"(\u0085)"},
                                                          {"\xe2\x82\xac", "\xe2\x82\xac"},
                                                          {"\xff", R"(\ufffd)"},
                                                          {" ", " "},
                                                          {"~", "~"}};
  for (size_t before = 0; before < 20; ++before) {
    for (size_t after : {size_t{0}, size_t{3}, size_t{17}}) {
      for (const auto& [raw, escaped] : specials) {
        std::string a(before, 'a'), b(after, 'b');
        EXPECT_EQ(Quote(a + raw + b), "\"" + a + escaped + b + "\"")
            << "offset " << before << ", " << after << " after";
      }
    }
  }
}

TEST(JsonStringTest, ValidUtf8IsKept) {
  const std::string s =
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0 \xef\xbf\xbf \xf4\x8f\xbf\xbf";
  EXPECT_EQ(Quote(s), "\"" + s + "\"");
}

TEST(JsonStringTest, InvalidUtf8BecomesReplacementCharacters) {
  const std::pair<std::string, std::string> cases[] = {
      {"a\xff"
       "b",
       R"("a\ufffdb")"},                                      // never valid
      {"\x80", R"("\ufffd")"},                                // stray continuation byte
      {"\xc0\x80", R"("\ufffd\ufffd")"},                      // overlong NUL
      {"\xe0\x80\xaf", R"("\ufffd\ufffd\ufffd")"},            // overlong '/'
      {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},            // UTF-16 surrogate
      {"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // above U+10FFFF
      {"x\xe2\x82", R"("x\ufffd\ufffd")"},                    // truncated at the end
      {"\xe2\x82z", R"("\ufffd\ufffdz")"},                    // truncated in the middle
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(Quote(in), want);
}

// Any bytes make a string that our (UTF-8 validating) parser reads back; valid UTF-8 comes back
// unchanged.
TEST(JsonStringTest, RandomBytesAlwaysMakeValidJson) {
  std::mt19937 rng(7);
  const char alphabet[] = {'\0',   '\x01', '"',    '\\',   'a',    '\x7f', '\x80', '\xbf', '\xc2',
                           '\xc3', '\xe0', '\xed', '\xef', '\xf0', '\xf4', '\xff', '\x9f', '\xa0'};
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 12, '\0');
    for (char& c : s)
      c = (rng() % 3 == 0) ? static_cast<char>(rng()) : alphabet[rng() % sizeof alphabet];
    std::string json = "[" + Quote(s) + "]";
    auto back = Json::Parse(json);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    const std::string& got = back->AsArray()[0].AsString();
    if (got.find("\xef\xbf\xbd") == std::string::npos) {
      EXPECT_EQ(got, s);
    }
  }
}

TEST(JsonStringTest, WriterKeysAndValuesAreEscaped) {
  std::string out;
  JsonWriter(&out)
      .BeginObject()
      .Key("k\xff\n")
      .String(std::string_view("v\x00\xc0", 3))
      .EndObject();
  EXPECT_EQ(out, R"({"k\ufffd\n":"v\u0000\ufffd"})");
  EXPECT_TRUE(Json::Parse(out).ok());
}

}  // namespace
}  // namespace modelfn
