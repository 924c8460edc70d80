#include "engine/loader/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace mlxm::engine {
namespace {

// Round trip for every bit width and group size: the error per element is at most half a
// quantization step (scale / 2), and codes pack into exactly n_in * bits / 32 words.
TEST(AffineQuantize, RoundTripWithinHalfStep) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int g : {32, 64, 128}) {
      const int64_t n = 256;
      std::vector<float> w(n), out(n), sc(n / g), bi(n / g);
      for (auto& x : w) x = nd(rng);
      std::vector<uint32_t> words(static_cast<size_t>(n * bits / 32) + 1, 0xdeadbeef);
      quantize_affine_row(w.data(), n, bits, g, nullptr, words.data(), sc.data(), bi.data());
      EXPECT_EQ(words.back(), 0xdeadbeefu) << "wrote past the row";
      dequantize_affine_row(words.data(), sc.data(), bi.data(), n, bits, g, out.data());
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_LE(std::fabs(out[i] - w[i]), sc[i / g] * 0.5f + 1e-7f)
            << bits << " " << g << " " << i;
      }
    }
  }
}

TEST(AffineQuantize, LittleEndianBitStream) {
  // 4-bit codes 0..15 in one group of 32: code j sits in bits [4j, 4j+4).
  std::vector<float> w(32);
  for (int i = 0; i < 32; ++i) w[i] = static_cast<float>(i % 16);
  std::vector<uint32_t> words(4);
  float sc, bi;
  quantize_affine_row(w.data(), 32, 4, 32, nullptr, words.data(), &sc, &bi);
  EXPECT_FLOAT_EQ(sc, 1.0f);
  EXPECT_FLOAT_EQ(bi, 0.0f);
  EXPECT_EQ(words[0], 0x76543210u);
  EXPECT_EQ(words[1], 0xfedcba98u);
  // 3-bit codes straddle words: code 10 (bits 30..32) spans words 0 and 1.
  std::vector<float> w3(32, 0.0f);
  w3[10] = 7.0f;  // max -> code 7
  std::vector<uint32_t> q3(3);
  quantize_affine_row(w3.data(), 32, 3, 32, nullptr, q3.data(), &sc, &bi);
  EXPECT_EQ(q3[0], 0x3u << 30);
  EXPECT_EQ(q3[1], 0x1u);
}

}  // namespace
}  // namespace mlxm::engine
