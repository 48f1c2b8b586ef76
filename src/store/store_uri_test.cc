#include "store/store_uri.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

TEST(StoreUriTest, Schemes) {
  auto s3 = ParseStoreUri("s3://bucket/models/");
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->kind, StoreUri::Kind::kS3);
  EXPECT_EQ(s3->bucket, "bucket");
  EXPECT_EQ(s3->prefix, "models");
  EXPECT_EQ(s3->ToString(), "s3://bucket/models");
  auto gs = ParseStoreUri("gs://b");
  EXPECT_EQ(gs->kind, StoreUri::Kind::kGcs);
  EXPECT_EQ(gs->prefix, "");
  auto az = ParseStoreUri("https://acct.blob.core.windows.net/c/m");
  ASSERT_TRUE(az.ok());
  EXPECT_EQ(az->account, "acct");
  EXPECT_EQ(az->bucket, "c");
  EXPECT_EQ(ParseStoreUri("az://c/m/x")->prefix, "m/x");
  EXPECT_EQ(ParseStoreUri("file:///tmp/x")->path, "/tmp/x");
  EXPECT_EQ(ParseStoreUri("relative/dir")->kind, StoreUri::Kind::kLocal);
  for (const char* bad : {"ftp://x/y", "s3://", "s3:///p", "file://relative",
                          "https://example.com/x", "s3://b/a//b", "s3://b/../x", ""}) {
    EXPECT_FALSE(ParseStoreUri(bad).ok()) << bad;
  }
}

TEST(StoreUriTest, ModelSources) {
  auto m = ParseModelSource("s3://bucket/models/digits@1.2.0");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->store.ToString(), "s3://bucket/models");
  EXPECT_EQ(m->name, "digits");
  EXPECT_EQ(m->version, "1.2.0");
  m = ParseModelSource("gs://b/digits");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->store.prefix, "");
  EXPECT_EQ(m->version, "");
  EXPECT_FALSE(ParseModelSource("s3://bucket").ok());
  EXPECT_FALSE(ParseModelSource("s3://bucket/").ok());
}

}  // namespace
}  // namespace modelfn
