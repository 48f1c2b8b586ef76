#include "common/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "common/files.h"

namespace modelfn {
namespace {

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, FileMatchesBytes) {
  std::string path = testing::TempDir() + "/sha_file";
  std::string data(3 << 20, 'x');  // spans several read chunks
  ASSERT_TRUE(WriteFileAtomic(path, data).ok());
  auto d = Sha256File(path);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size, data.size());
  EXPECT_EQ(d->sha256, Sha256Hex(data));
  EXPECT_EQ(Sha256File(path + ".missing").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace modelfn
