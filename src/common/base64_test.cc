#include "common/base64.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <random>
#include <string>

namespace modelfn {
namespace {

// OpenSSL's streaming decoder, which (unlike EVP_DecodeBlock) refuses data after padding and
// incomplete input when both its update and final steps are checked: the reference for ours.
std::optional<std::string> OpenSslDecode(std::string_view text) {
  std::unique_ptr<EVP_ENCODE_CTX, decltype(&EVP_ENCODE_CTX_free)> ctx(EVP_ENCODE_CTX_new(),
                                                                      EVP_ENCODE_CTX_free);
  EVP_DecodeInit(ctx.get());
  std::string out(text.size() + 8, '\0');
  int n = 0, tail = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecodeUpdate(ctx.get(), o, &n, reinterpret_cast<const unsigned char*>(text.data()),
                       static_cast<int>(text.size())) < 0) {
    return std::nullopt;
  }
  if (EVP_DecodeFinal(ctx.get(), o + n, &tail) != 1) return std::nullopt;
  out.resize(static_cast<size_t>(n + tail));
  return out;
}

TEST(Base64Test, RoundTripsAndKnownValues) {
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(Base64Decode("aGVsbG8=").value(), "hello");
  EXPECT_EQ(Base64Decode("aGVs\r\nbG8=").value(), "hello");
  EXPECT_EQ(Base64Decode("").value(), "");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  std::mt19937 rng(1);
  for (int len = 0; len < 200; ++len) {
    std::string bin(static_cast<size_t>(len), '\0');
    for (char& c : bin) c = static_cast<char>(rng());
    auto back = Base64Decode(Base64Encode(bin));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bin);
  }
}

// Each of these was accepted by the EVP_DecodeBlock-based decoder ("====" even threw out of it).
TEST(Base64Test, RefusesMalformedText) {
  for (const char* text : {"====", "QQ=A", "Q===", "QQ==QUJD", "=QUJ", "QQ=", "QQ", "Q",
                           "QUJD=", "QUJD==", "QQ===", "QU-D", "QU_D", "QUJ\x80"}) {
    auto r = Base64Decode(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.status().reason(), "invalid_request");
    }
  }
  EXPECT_FALSE(Base64Decode(std::string_view("QUJD\0", 5)).ok());
}

// Ours against OpenSSL's over random text from the alphabet, padding, whitespace and junk: both
// accept the same texts and decode them to the same bytes. '-' is left out: OpenSSL's decoder
// reads it as the end of a PEM body and stops there; ours refuses it (RefusesMalformedText).
TEST(Base64Test, AgreesWithOpenSslOnRandomText) {
  const std::string chars = "QUJDabcz09+/=== \r\n\t_.\x80\xff";
  std::mt19937 rng(42);
  int accepted = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string text(rng() % 14, ' ');
    for (char& c : text) c = chars[rng() % chars.size()];
    auto ours = Base64Decode(text);
    auto theirs = OpenSslDecode(text);
    ASSERT_EQ(ours.ok(), theirs.has_value()) << "'" << text << "'";
    if (ours.ok()) {
      ++accepted;
      EXPECT_EQ(*ours, *theirs) << "'" << text << "'";
    }
  }
  EXPECT_GT(accepted, 1000);  // the comparison covered valid text too, not only refusals
}

}  // namespace
}  // namespace modelfn
