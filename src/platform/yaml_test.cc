#include "platform/yaml.h"

#include <gtest/gtest.h>

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

TEST(YamlTest, RefusesWhatItDoesNotSupportWithTheLine) {
  EXPECT_EQ(Yaml("a: 1\n\tb: 2"), "error: line 2: tabs cannot indent YAML; use spaces");
  EXPECT_EQ(Yaml("a: |\n  text"), "error: line 1: block scalars (| and >) are not supported");
  EXPECT_EQ(Yaml("a: &x 1"), "error: line 1: anchors, aliases and tags are not supported");
  EXPECT_EQ(Yaml("a: 1\na: 2"), "error: line 2: duplicate key 'a'");
  EXPECT_EQ(Yaml("a: {b: 1"), "error: line 1: unterminated '{'");
  EXPECT_EQ(Yaml("a:\n    b: 1\n  c: 2"), "error: line 3: unexpected indentation");
  EXPECT_EQ(Yaml("a: \"open"), "error: line 1: unterminated quoted string");
  EXPECT_EQ(Yaml("a: 1\n---\nb: 2"), "error: line 2: only one document is supported");
}

}  // namespace
}  // namespace modelfn
