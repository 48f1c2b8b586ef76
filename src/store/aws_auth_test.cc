#include "store/aws_auth.h"

#include <gtest/gtest.h>

#include <map>

#include "common/files.h"
#include "store/s3_store.h"

namespace modelfn {
namespace {

// 2013-05-24T00:00:00Z, the instant of AWS's documented SigV4 examples for S3.
constexpr int64_t kExampleTime = 1369353600LL * 1000000000LL;

AwsCredentials ExampleCredentials() {
  return {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", 0};
}

std::string Header(const std::vector<std::pair<std::string, std::string>>& h,
                   const std::string& name) {
  for (const auto& [k, v] : h) {
    if (k == name) return v;
  }
  return "";
}

// The "GET Object" example of the S3 SigV4 documentation.
TEST(SigV4Test, DocumentedGetObjectExample) {
  SigV4Input in;
  in.method = "GET";
  in.host = "examplebucket.s3.amazonaws.com";
  in.canonical_path = "/test.txt";
  in.headers = {{"Range", "bytes=0-9"}};
  in.payload_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  auto h = SignV4(in, ExampleCredentials(), "us-east-1", "s3", kExampleTime);
  EXPECT_EQ(Header(h, "Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(Header(h, "x-amz-date"), "20130524T000000Z");
}

// The "GET Bucket (List Objects)" example: a query string in the canonical request.
TEST(SigV4Test, DocumentedListObjectsExample) {
  SigV4Input in;
  in.method = "GET";
  in.host = "examplebucket.s3.amazonaws.com";
  in.canonical_path = "/";
  in.query = {{"prefix", "J"}, {"max-keys", "2"}};
  in.payload_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  auto h = SignV4(in, ExampleCredentials(), "us-east-1", "s3", kExampleTime);
  EXPECT_NE(Header(h, "Authorization")
                .find("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
            std::string::npos)
      << Header(h, "Authorization");
}

TEST(SigV4Test, SessionTokenIsSignedAndSent) {
  SigV4Input in;
  in.method = "GET";
  in.host = "b.s3.amazonaws.com";
  in.canonical_path = "/k";
  in.payload_sha256 = "UNSIGNED-PAYLOAD";
  AwsCredentials c = ExampleCredentials();
  c.session_token = "token/with+chars";
  auto h = SignV4(in, c, "eu-west-1", "s3", kExampleTime);
  EXPECT_EQ(Header(h, "x-amz-security-token"), "token/with+chars");
  EXPECT_NE(Header(h, "Authorization").find("x-amz-security-token"), std::string::npos);
}

TEST(SigV4Test, CanonicalQuerySortsAndEncodes) {
  EXPECT_EQ(CanonicalQuery({{"prefix", "a b/c"}, {"list-type", "2"}, {"uploads", ""}}),
            "list-type=2&prefix=a%20b%2Fc&uploads=");
}

class FakeHttp : public HttpClient {
 public:
  StatusOr<HttpReply> Send(const HttpCall& call) override {
    calls.push_back(call.url);
    auth = "";
    for (const auto& [k, v] : call.headers) {
      if (k == "Authorization") auth = v;
    }
    return reply;
  }
  HttpReply reply;
  std::vector<std::string> calls;
  std::string auth;
};

EnvFn MapEnv(std::map<std::string, std::string> m) {
  return [m](const std::string& k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(AwsCredentialsTest, ChainOrder) {
  FakeHttp http;
  FakeClock clock;
  auto env = ResolveAwsCredentials(
      MapEnv(
          {{"AWS_ACCESS_KEY_ID", "A"}, {"AWS_SECRET_ACCESS_KEY", "S"}, {"AWS_SESSION_TOKEN", "T"}}),
      http, clock);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->session_token, "T");

  std::string dir = testing::TempDir();
  ASSERT_TRUE(
      WriteFileAtomic(
          dir + "/aws_credentials",
          "[default]\naws_access_key_id = D\naws_secret_access_key = "
          "DS\n\n[ci]\naws_access_key_id=C\naws_secret_access_key=CS\naws_session_token=CT\n")
          .ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/aws_config", "[profile ci]\nregion = eu-north-1\n").ok());
  auto prof = ResolveAwsCredentials(
      MapEnv({{"AWS_SHARED_CREDENTIALS_FILE", dir + "/aws_credentials"}, {"AWS_PROFILE", "ci"}}),
      http, clock);
  ASSERT_TRUE(prof.ok()) << prof.status().ToString();
  EXPECT_EQ(prof->access_key_id, "C");
  EXPECT_EQ(prof->session_token, "CT");
  EXPECT_EQ(
      ResolveAwsRegion(MapEnv({{"AWS_CONFIG_FILE", dir + "/aws_config"}, {"AWS_PROFILE", "ci"}})),
      "eu-north-1");
  EXPECT_EQ(ResolveAwsRegion(MapEnv({{"AWS_REGION", "ap-south-1"}})), "ap-south-1");
  EXPECT_EQ(ResolveAwsRegion(MapEnv({})), "us-east-1");

  http.reply.status = 200;
  http.reply.body =
      R"({"AccessKeyId":"K","SecretAccessKey":"KS","Token":"KT","Expiration":"2030-01-01T00:00:00Z"})";
  auto container = ResolveAwsCredentials(
      MapEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds"},
              {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-token"},
              {"HOME", "/nonexistent"}}),
      http, clock);
  ASSERT_TRUE(container.ok()) << container.status().ToString();
  EXPECT_EQ(container->access_key_id, "K");
  EXPECT_EQ(container->session_token, "KT");
  EXPECT_EQ(http.calls.back(), "http://127.0.0.1:9/creds");
  EXPECT_EQ(http.auth, "secret-token");

  auto none = ResolveAwsCredentials(MapEnv({{"HOME", "/nonexistent"}}), http, clock);
  EXPECT_EQ(none.status().reason(), "store_auth");
}

}  // namespace
}  // namespace modelfn
