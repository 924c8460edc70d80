#include "engine/tensor/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace mlxm::engine {
namespace {

TEST(DTypeTest, BF16RoundTripAndRounding) {
  for (float f : {0.0f, 1.0f, -2.5f, 3.140625f, 65536.0f, -0.0078125f}) {
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(f)), f) << f;
  }
  // 1 + 2^-8 is halfway between two bf16 values: ties to even (down to 1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DTypeTest, F16MatchesExhaustiveRoundTrip) {
  // Every finite f16 value converts to f32 and back unchanged.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t v = static_cast<uint16_t>(h);
    if ((v & 0x7c00u) == 0x7c00u && (v & 0x3ffu) != 0) continue;  // NaN payloads
    EXPECT_EQ(f32_to_f16(f16_to_f32(v)), v) << std::hex << h;
  }
}

TEST(DTypeTest, F16Rounding) {
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 1.0f / 2048)), 1.0f);  // tie to even
  EXPECT_EQ(f16_to_f32(f32_to_f16(1e6f)), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(f32_to_f16(std::ldexp(1.0f, -24))), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(f32_to_f16(std::ldexp(1.0f, -26))), 0.0f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(65504.0f)), 65504.0f);
}

TEST(DTypeTest, ParseNames) {
  EXPECT_EQ(parse_dtype("BF16").value(), DType::kBF16);
  EXPECT_FALSE(parse_dtype("F8_E4M3").ok());
  EXPECT_EQ(dtype_size(DType::kU32), 4u);
}

}  // namespace
}  // namespace mlxm::engine
