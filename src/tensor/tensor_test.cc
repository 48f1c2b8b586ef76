#include "tensor/tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace modelfn {
namespace {

TEST(DTypeTest, NamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(DType::kBytes); ++i) {
    DType t = static_cast<DType>(i);
    EXPECT_EQ(DTypeFromName(DTypeName(t)), t);
  }
  EXPECT_FALSE(DTypeFromName("FLOAT").has_value());
  EXPECT_EQ(DTypeSize(DType::kFp16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBytes), 0u);
}

TEST(HalfTest, KnownValues) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7C00);                    // overflow -> inf
  EXPECT_EQ(FloatToHalf(5.960464477539063e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(1e-9f), 0x0000);
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(HalfToFloat(0x0001), 5.960464477539063e-08f);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
}

TEST(HalfTest, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), h) << h;
  }
}

TEST(ElementCountTest, LimitsAndOverflow) {
  EXPECT_EQ(CheckedElementCount({2, 3, 4}, 100).value(), 24);
  EXPECT_EQ(CheckedElementCount({}, 100).value(), 1);
  EXPECT_EQ(CheckedElementCount({2, 0, 1 << 30}, 100).value(), 0);
  auto big = CheckedElementCount({1 << 30, 1 << 30, 1 << 30}, 1000);
  EXPECT_EQ(big.status().reason(), "too_many_elements");
  EXPECT_EQ(CheckedElementCount({101}, 100).status().reason(), "too_many_elements");
  EXPECT_EQ(CheckedElementCount({2, -1}, 100).status().reason(), "shape_mismatch");
}

}  // namespace
}  // namespace modelfn
