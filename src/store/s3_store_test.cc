// S3Store's requests and its reading of S3's answers, against canned responses.
#include "store/s3_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "common/clock.h"
#include "store/fake_http_client.h"

namespace modelfn {
namespace {

constexpr int64_t kWall = 1'764'547'200'000'000'000;  // 2025-12-01T00:00:00Z

class S3StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<S3Store> Make(S3Config config) {
    auto http = std::make_unique<FakeHttpClient>();
    http_ = http.get();
    clock_.SetWall(kWall);
    AwsCredentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", 0};
    return std::make_unique<S3Store>(std::move(config), creds, std::move(http), &clock_);
  }
  std::unique_ptr<S3Store> Make() {
    S3Config c;
    c.bucket = "models";
    c.prefix = "team";
    c.region = "eu-west-1";
    return Make(c);
  }
  FakeClock clock_;
  FakeHttpClient* http_ = nullptr;
};

TEST_F(S3StoreTest, VirtualHostedUrlsAreSignedForTheRegion) {
  auto s3 = Make();
  http_->Reply(200, "bytes", {{"etag", "\"e1\""}});
  auto got = s3->Get("m/1.0.0/model onnx");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "bytes");
  const RecordedCall& c = http_->calls.at(0);
  EXPECT_EQ(c.method, "GET");
  EXPECT_EQ(c.url, "https://models.s3.eu-west-1.amazonaws.com/team/m/1.0.0/model%20onnx");
  EXPECT_EQ(c.Header("x-amz-date"), "20251201T000000Z");
  std::string auth = c.Header("Authorization");
  EXPECT_EQ(
      auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251201/eu-west-1/s3/aws4_request,", 0),
      0u)
      << auth;
  EXPECT_EQ(auth.find("wJalrXUtnFEMI"), std::string::npos);
}

TEST_F(S3StoreTest, PathStyleForEndpointsAndDottedBuckets) {
  S3Config c;
  c.bucket = "my.models";
  auto dotted = Make(c);
  http_->Reply(200, "x");
  ASSERT_TRUE(dotted->Get("k").ok());
  EXPECT_EQ(http_->calls.at(0).url, "https://s3.us-east-1.amazonaws.com/my.models/k");
  c.bucket = "b";
  c.endpoint = "http://127.0.0.1:8333/";
  c.path_style = true;
  auto local = Make(c);
  http_->Reply(200, "x");
  ASSERT_TRUE(local->Get("k").ok());
  EXPECT_EQ(http_->calls.at(0).url, "http://127.0.0.1:8333/b/k");
}

TEST_F(S3StoreTest, ConditionalPutSendsTheConditionSigned) {
  auto s3 = Make();
  http_->Reply(200, "", {{"etag", "\"new\""}});
  PutOptions o;
  o.condition = PutOptions::Condition::kIfAbsent;
  o.content_type = "application/json";
  auto put = s3->Put("m/current.json", "{}", o);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->etag, "\"new\"");
  const RecordedCall& c = http_->calls.at(0);
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.body, "{}");
  EXPECT_EQ(c.Header("If-None-Match"), "*");
  EXPECT_EQ(c.Header("Content-Type"), "application/json");
  EXPECT_NE(c.Header("Authorization").find("if-none-match"), std::string::npos);
  // x-amz-content-sha256 is the body's hash.
  EXPECT_EQ(c.Header("x-amz-content-sha256"),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  o.condition = PutOptions::Condition::kIfMatch;
  o.if_match = "\"old\"";
  http_->Reply(200);
  ASSERT_TRUE(s3->Put("m/current.json", "{}", o).ok());
  EXPECT_EQ(http_->calls.at(1).Header("If-Match"), "\"old\"");
  EXPECT_EQ(http_->calls.at(1).Header("If-None-Match"), "");
}

TEST_F(S3StoreTest, ListFollowsContinuationTokensAndStripsThePrefix) {
  auto s3 = Make();
  http_->Reply(200, R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>models</Name><Prefix>team/m/</Prefix><KeyCount>2</KeyCount>
  <IsTruncated>true</IsTruncated><NextContinuationToken>tok&amp;1</NextContinuationToken>
  <Contents><Key>team/m/b&amp;c.onnx</Key><Size>12</Size><ETag>&quot;e2&quot;</ETag></Contents>
  <Contents><Key>team/m/a.json</Key><Size>3</Size><ETag>"e1"</ETag></Contents>
</ListBucketResult>)");
  http_->Reply(200, R"(<ListBucketResult><IsTruncated>false</IsTruncated>
  <Contents><Key>team/m/0</Key><Size>0</Size><ETag>"e0"</ETag></Contents></ListBucketResult>)");
  auto list = s3->List("m/");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].key, "m/0");
  EXPECT_EQ((*list)[1].key, "m/a.json");
  EXPECT_EQ((*list)[1].size, 3u);
  EXPECT_EQ((*list)[1].etag, "\"e1\"");
  EXPECT_EQ((*list)[2].key, "m/b&c.onnx");
  EXPECT_EQ((*list)[2].size, 12u);
  EXPECT_EQ((*list)[2].etag, "\"e2\"");
  ASSERT_EQ(http_->calls.size(), 2u);
  EXPECT_EQ(http_->calls[0].url,
            "https://models.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=team%2Fm%2F");
  EXPECT_EQ(http_->calls[1].url,
            "https://models.s3.eu-west-1.amazonaws.com/"
            "?continuation-token=tok%261&list-type=2&prefix=team%2Fm%2F");
}

Status ErrorOf(FakeHttpClient* http, S3Store* s3, int status, const std::string& body) {
  http->Reply(status, body);
  return s3->Get("m/k").status();
}

std::string S3Error(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" +
         message + "</Message><RequestId>R</RequestId></Error>";
}

TEST_F(S3StoreTest, ErrorsAreTypedByStatusAndCode) {
  auto s3 = Make();
  Status s = ErrorOf(http_, s3.get(), 404, S3Error("NoSuchKey", "The key does not exist"));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("NoSuchKey (The key does not exist)"), std::string::npos)
      << s.message();
  s = ErrorOf(http_, s3.get(), 403, S3Error("SignatureDoesNotMatch", "no"));
  EXPECT_EQ(s.reason(), "store_auth");
  EXPECT_NE(s.message().find("check the credentials"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("wJalrXUtnFEMI"), std::string::npos);
  s = ErrorOf(http_, s3.get(), 403, S3Error("RequestTimeTooSkewed", "skew"));
  EXPECT_EQ(s.reason(), "store_auth");
  EXPECT_NE(s.message().find("clock"), std::string::npos) << s.message();
  s = ErrorOf(http_, s3.get(), 412, S3Error("PreconditionFailed", "x"));
  EXPECT_EQ(s.reason(), "precondition_failed");
  s = ErrorOf(http_, s3.get(), 409, S3Error("ConditionalRequestConflict", "x"));
  EXPECT_EQ(s.reason(), "precondition_failed");
  s = ErrorOf(http_, s3.get(), 409, S3Error("OperationAborted", "x"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = ErrorOf(http_, s3.get(), 400, "not xml at all");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("HTTP 400"), std::string::npos);
  EXPECT_EQ(http_->pending(), 0u);  // none of these is retried
}

TEST_F(S3StoreTest, MultipartUploadCompletesOrAbortsOnAnErrorDocument) {
  S3Config c;
  c.bucket = "models";
  c.multipart_threshold = 4;
  c.part_size = 4;
  auto s3 = Make(c);
  char path[] = "/tmp/s3-store-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "abcdef", 6), 6);
  close(fd);
  auto script = [&](const std::string& complete_answer) {
    http_->Reply(200,
                 "<InitiateMultipartUploadResult><UploadId>up&amp;1</UploadId>"
                 "</InitiateMultipartUploadResult>");
    http_->Reply(200, "", {{"etag", "\"p1\""}});
    http_->Reply(200, "", {{"etag", "\"p2\""}});
    http_->Reply(200, complete_answer);
  };
  script("<CompleteMultipartUploadResult><ETag>\"whole-2\"</ETag></CompleteMultipartUploadResult>");
  PutOptions o;
  o.condition = PutOptions::Condition::kIfAbsent;
  auto put = s3->PutFile("big", path, o);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->etag, "\"whole-2\"");
  EXPECT_EQ(put->size, 6u);
  ASSERT_EQ(http_->calls.size(), 4u);
  EXPECT_EQ(http_->calls[0].url, "https://models.s3.us-east-1.amazonaws.com/big?uploads=");
  EXPECT_EQ(http_->calls[1].url,
            "https://models.s3.us-east-1.amazonaws.com/big?partNumber=1&uploadId=up%261");
  EXPECT_EQ(http_->calls[2].body_offset, 4u);
  EXPECT_EQ(http_->calls[2].body_length, 2u);
  EXPECT_EQ(http_->calls[3].body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"p1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"p2\"</ETag></Part></CompleteMultipartUpload>");
  EXPECT_EQ(http_->calls[3].Header("If-None-Match"), "*");

  // A 200 carrying an error document: the condition lost, and the upload is aborted.
  http_->calls.clear();
  script(S3Error("PreconditionFailed", "At least one of the pre-conditions did not hold"));
  http_->Reply(204);
  put = s3->PutFile("big", path, o);
  EXPECT_EQ(put.status().reason(), "precondition_failed");
  ASSERT_EQ(http_->calls.size(), 5u);
  EXPECT_EQ(http_->calls[4].method, "DELETE");
  EXPECT_EQ(http_->calls[4].url, "https://models.s3.us-east-1.amazonaws.com/big?uploadId=up%261");
  unlink(path);
}

}  // namespace
}  // namespace modelfn
