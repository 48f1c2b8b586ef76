#include "platform/yaml.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace modelfn {
namespace {

std::string Yaml(std::string_view text) {
  auto j = ParseYaml(text);
  if (!j.ok()) return "error: " + j.status().message();
  return j->Dump();
}

TEST(YamlTest, DesignSketch) {
  const char* text = R"(# modelfn.yaml
store: ./models                 # or s3://bucket/models
functions:
  digits:
    model: digits               # pointer current.json, or digits@1.2.0
    memory_mb: 512
    timeout_s: 2.5
    mode: lambda
    traffic: {digits@1.2.0: 90, digits@1.3.0: 10}   # canary
gateway:
  listen: 127.0.0.1:8080
  auth: {api_keys: true, jwt: {jwks: ./jwks.json, issuer: "https://issuer.example", audience: api}}
  cors: {origins: [https://app.example.com, 'http://localhost:3000']}
triggers:
  - on: object_created
    source: s3://bucket/incoming/
  - plain
  -
    nested: yes
)";
  EXPECT_EQ(Yaml(text),
            R"({"store":"./models","functions":{"digits":{"model":"digits","memory_mb":512,)"
            R"("timeout_s":2.5,"mode":"lambda","traffic":{"digits@1.2.0":90,"digits@1.3.0":10}}},)"
            R"("gateway":{"listen":"127.0.0.1:8080","auth":{"api_keys":true,"jwt":{"jwks":)"
            R"("./jwks.json","issuer":"https://issuer.example","audience":"api"}},"cors":)"
            R"({"origins":["https://app.example.com","http://localhost:3000"]}},"triggers":)"
            R"([{"on":"object_created","source":"s3://bucket/incoming/"},"plain",)"
            R"({"nested":"yes"}]})");
}

TEST(YamlTest, ScalarsFollowTheCoreSchema) {
  EXPECT_EQ(Yaml("a: 1\nb: -2\nc: 1.5e3\nd: ~\ne: null\nf: false\ng: '007'\nh: \"a\\tb # x\"\n"),
            R"({"a":1,"b":-2,"c":1500,"d":null,"e":null,"f":false,"g":"007","h":"a\tb # x"})");
  EXPECT_EQ(Yaml("k: it's # comment"), R"({"k":"it's"})");
  EXPECT_EQ(Yaml("list:\n- a\n- b\nnext: 1"), R"({"list":["a","b"],"next":1})");
  EXPECT_EQ(Yaml(""), "null");
}

TEST(YamlTest, MalformedTextIsRefusedWithTheLine) {
  EXPECT_EQ(Yaml("a: 1\n\tb: 2"), "error: line 2: illegal tab when looking for indentation");
  EXPECT_EQ(Yaml("a: 1\na: 2"), "error: line 2: duplicate key 'a'");
  EXPECT_EQ(Yaml("a: {b: 1"), "error: line 1: end of map flow not found");
  EXPECT_EQ(Yaml("a:\n    b: 1\n  c: 2"), "error: line 3: end of map not found");
  EXPECT_EQ(Yaml("a: \"open"), "error: line 1: illegal EOF in scalar");
  EXPECT_EQ(Yaml("a: 1\n---\nb: 2"), "error: line 2: only one document is supported");
  EXPECT_EQ(Yaml("a: *nope"), "error: line 1: the referenced anchor is not defined");
  EXPECT_EQ(Yaml("x: !!binary aGk="), "error: line 1: tags are not supported");
  EXPECT_EQ(Yaml("[a]: 1"), "error: line 1: keys must be scalars");
  EXPECT_EQ(Yaml("a: 1\nb:\n  c: 1\n  c: 2"), "error: line 4: duplicate key 'c'");
}

// The former subset parser refused these; yaml-cpp reads them as YAML 1.2 does.
TEST(YamlTest, BlockScalarsAnchorsAndQuotedKeys) {
  EXPECT_EQ(Yaml("a: |\n  two\n  lines\nb: >\n  folded\n  text\n"),
            R"({"a":"two\nlines\n","b":"folded text\n"})");
  EXPECT_EQ(Yaml("base: &b {memory_mb: 512}\nf: *b\ng: *b"),
            R"({"base":{"memory_mb":512},"f":{"memory_mb":512},"g":{"memory_mb":512}})");
  EXPECT_EQ(Yaml("'1.50': x\n\"q\": !!str 2"), R"({"1.50":"x","q":"2"})");
  EXPECT_EQ(Yaml("a: [0x1f, 0o17, .inf, -1.5, +3, 1e3, 12abc]"),
            R"({"a":[31,15,null,-1.5,3,1000,"12abc"]})");  // the writer prints inf as null
}

// A "billion laughs": each level aliases the one before ten times. Expanded it would be 10^9
// values; it is refused once the expansion passes the limit, without building it.
TEST(YamlTest, AliasExpansionIsBounded) {
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", " : "") + prev;
    bomb += "]\n";
  }
  std::string got = Yaml(bomb);
  EXPECT_NE(got.find("error: line 5: the document holds more than 100000 values"),
            std::string::npos)
      << got;
  // Below the limit, aliases expand.
  EXPECT_EQ(Yaml("a: &a [1, 2]\nb: [*a, *a]"), R"({"a":[1,2],"b":[[1,2],[1,2]]})");
}

TEST(YamlTest, NestingIsBounded) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_EQ(Yaml(deep), "error: line 1: nesting too deep");
  std::string deeper(100000, '[');
  EXPECT_EQ(Yaml(deeper).rfind("error: line 1: ", 0), 0u);  // yaml-cpp's own guard, not a crash
  std::string ok(64, '[');
  ok += std::string(64, ']');
  EXPECT_EQ(Yaml(ok).rfind("error", 0), std::string::npos);
}

// Mutations of a real file: every outcome is a value or an error Status, never an exception or
// a crash out of yaml-cpp.
TEST(YamlTest, MutatedTextNeverThrows) {
  const std::string base =
      "store: ./models\nfunctions:\n  d: {model: d, memory_mb: 512, traffic: {a: 90, b: 10}}\n"
      "  e:\n    model: e\n    tags: [x, 'y', \"z\"]\n    note: |\n      text\n"
      "anchors: &a {k: [1, 2]}\nalias: *a\n";
  const std::string alphabet = "{}[],:-?&*!|>'\"#%@`\t\n \\x0a";
  std::mt19937 rng(3);
  int ok = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = base;
    for (int m = 0, n = 1 + static_cast<int>(rng() % 4); m < n; ++m) {
      size_t at = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1 + rng() % 3);
          break;
        default:
          if (at < text.size()) text[at] = static_cast<char>(rng());
      }
    }
    auto j = ParseYaml(text);
    if (j.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument) << text;
    }
  }
  EXPECT_GT(ok, 100);  // the mutations left many documents valid, so both paths ran
}

}  // namespace
}  // namespace modelfn

namespace modelfn {
namespace {

TEST(YamlTest, TextThatIsNotUtf8IsRefused) {
  // Two keys that differ only in invalid bytes would read alike once escaped.
  auto y = ParseYaml("a\xff: 1\na\xfe: 2\n");
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("UTF-8"), std::string::npos) << y.status().ToString();
  EXPECT_TRUE(ParseYaml("caf\xc3\xa9: 1\n").ok());
}

}  // namespace
}  // namespace modelfn
