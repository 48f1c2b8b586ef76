// AzureStore's requests (SharedKey signing, SAS) and its reading of Azure's answers, against
// canned responses.
#include "store/azure_store.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "store/fake_http_client.h"

namespace modelfn {
namespace {

constexpr int64_t kWall = 1'764'547'200'000'000'000;  // Mon, 01 Dec 2025 00:00:00 GMT
constexpr char kKey[] = "a2V5";                       // base64("key")

class AzureStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<AzureStore> Make(
      const std::string& key, const std::string& sas,
      const std::string& endpoint = "https://acct.blob.core.windows.net") {
    AzureConfig c;
    c.account = "acct";
    c.key_base64 = key;
    c.sas = sas;
    c.endpoint = endpoint;
    c.container = "models";
    c.prefix = "team";
    auto http = std::make_unique<FakeHttpClient>();
    http_ = http.get();
    clock_.SetWall(kWall);
    return std::make_unique<AzureStore>(std::move(c), std::move(http), &clock_);
  }
  FakeClock clock_;
  FakeHttpClient* http_ = nullptr;
};

TEST(AzureSharedKeyTest, SignatureIsBase64HmacSha256WithTheDecodedKey) {
  // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), a published test value.
  EXPECT_EQ(AzureStore::SharedKeySignature(kKey, "The quick brown fox jumps over the lazy dog"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=");
}

TEST_F(AzureStoreTest, PutIsSignedOverTheCanonicalRequest) {
  auto az = Make(kKey, "");
  http_->Reply(201, "", {{"etag", "\"0x8D1\""}});
  PutOptions o;
  o.condition = PutOptions::Condition::kIfAbsent;
  o.content_type = "text/plain";
  auto put = az->Put("m/a b", "abc", o);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->etag, "\"0x8D1\"");
  const RecordedCall& c = http_->calls.at(0);
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.url, "https://acct.blob.core.windows.net/models/team/m/a%20b");
  EXPECT_EQ(c.Header("x-ms-date"), "Mon, 01 Dec 2025 00:00:00 GMT");
  EXPECT_EQ(c.Header("x-ms-version"), "2021-08-06");
  EXPECT_EQ(c.Header("x-ms-blob-type"), "BlockBlob");
  EXPECT_EQ(c.Header("Content-Length"), "3");
  EXPECT_EQ(c.Header("If-None-Match"), "*");
  // The string-to-sign of Azure's SharedKey scheme, spelled out field by field.
  std::string to_sign =
      "PUT\n"
      "\n"            // Content-Encoding
      "\n"            // Content-Language
      "3\n"           // Content-Length
      "\n"            // Content-MD5
      "text/plain\n"  // Content-Type
      "\n"            // Date (x-ms-date is used)
      "\n"            // If-Modified-Since
      "\n"            // If-Match
      "*\n"           // If-None-Match
      "\n"            // If-Unmodified-Since
      "\n"            // Range
      "x-ms-blob-type:BlockBlob\n"
      "x-ms-date:Mon, 01 Dec 2025 00:00:00 GMT\n"
      "x-ms-version:2021-08-06\n"
      "/acct/models/team/m/a%20b";
  EXPECT_EQ(c.Header("Authorization"),
            "SharedKey acct:" + AzureStore::SharedKeySignature(kKey, to_sign));
}

TEST_F(AzureStoreTest, ListSignsItsQueryAndFollowsMarkers) {
  auto az = Make(kKey, "");
  http_->Reply(200, R"(<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="https://acct.blob.core.windows.net/" ContainerName="models">
  <Prefix>team/m/</Prefix>
  <Blobs>
    <Blob><Name>team/m/b&amp;c</Name><Properties><Content-Length>7</Content-Length>
      <Etag>0x8DB</Etag><Content-Type>application/octet-stream</Content-Type></Properties></Blob>
    <Blob><Name>team/m/a</Name><Properties><Content-Length>1</Content-Length><Etag>0x8DA</Etag>
    </Properties></Blob>
  </Blobs>
  <NextMarker>2!72!next</NextMarker>
</EnumerationResults>)");
  http_->Reply(200, R"(<EnumerationResults><Blobs/><NextMarker /></EnumerationResults>)");
  auto list = az->List("m/");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].key, "m/a");
  EXPECT_EQ((*list)[0].size, 1u);
  EXPECT_EQ((*list)[0].etag, "0x8DA");
  EXPECT_EQ((*list)[1].key, "m/b&c");
  EXPECT_EQ((*list)[1].size, 7u);
  ASSERT_EQ(http_->calls.size(), 2u);
  EXPECT_EQ(http_->calls[1].url,
            "https://acct.blob.core.windows.net/models"
            "?restype=container&comp=list&prefix=team%2Fm%2F&marker=2%2172%21next");
  // Query parameters join the canonical resource, lowercased and sorted by name.
  std::string to_sign =
      "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Dec 2025 00:00:00 GMT\n"
      "x-ms-version:2021-08-06\n/acct/models\ncomp:list\nmarker:2!72!next\n"
      "prefix:team/m/\nrestype:container";
  EXPECT_EQ(http_->calls[1].Header("Authorization"),
            "SharedKey acct:" + AzureStore::SharedKeySignature(kKey, to_sign));
}

TEST_F(AzureStoreTest, SasTravelsInTheQueryAndNeverInMessages) {
  auto az = Make("", "sv=2021&sig=SECRET", "http://127.0.0.1:10000/devstoreaccount1");
  http_->Reply(200, "data");
  ASSERT_TRUE(az->Get("k").ok());
  const RecordedCall& c = http_->calls.at(0);
  EXPECT_EQ(c.url, "http://127.0.0.1:10000/devstoreaccount1/models/team/k?sv=2021&sig=SECRET");
  EXPECT_EQ(c.Header("Authorization"), "");
  http_->Reply(403, "<Error><Code>AuthenticationFailed</Code></Error>");
  Status s = az->Get("k").status();
  EXPECT_EQ(s.reason(), "store_auth");
  EXPECT_EQ(s.message().find("SECRET"), std::string::npos) << s.message();
}

TEST_F(AzureStoreTest, ErrorsAreTypedByStatusAndCode) {
  auto az = Make(kKey, "");
  auto error_of = [&](int status, const std::string& body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http_->Reply(status, body, std::move(headers));
    PutOptions o;
    o.condition = PutOptions::Condition::kIfAbsent;
    return az->Put("k", "x", o).status();
  };
  Status s = error_of(409, "", {{"x-ms-error-code", "BlobAlreadyExists"}});
  EXPECT_EQ(s.reason(), "precondition_failed");
  EXPECT_NE(s.message().find("BlobAlreadyExists"), std::string::npos);
  s = error_of(409, "<Error><Code>BlobAlreadyExists</Code></Error>");
  EXPECT_EQ(s.reason(), "precondition_failed");
  s = error_of(409, "<Error><Code>LeaseIdMissing</Code></Error>");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = error_of(412, "");
  EXPECT_EQ(s.reason(), "precondition_failed");
  s = error_of(404, "<Error><Code>ContainerNotFound</Code></Error>");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("ContainerNotFound"), std::string::npos);
  s = error_of(
      403,
      "<Error><Code>AuthenticationFailed</Code><AuthenticationErrorDetail>Request date "
      "header too old: 'Fri, 01 Dec 2023 00:00:00 GMT'</AuthenticationErrorDetail></Error>");
  EXPECT_EQ(s.reason(), "store_auth");
  EXPECT_NE(s.message().find("clock"), std::string::npos) << s.message();
  s = error_of(403, "<Error><Code>AuthorizationPermissionMismatch</Code></Error>");
  EXPECT_EQ(s.reason(), "store_auth");
  EXPECT_NE(s.message().find("check the account key"), std::string::npos) << s.message();
  EXPECT_EQ(http_->pending(), 0u);
}

}  // namespace
}  // namespace modelfn
