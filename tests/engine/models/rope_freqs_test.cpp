#include "engine/models/rope_freqs.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mlxm::engine {
namespace {

ModelConfig llama32() {
  ModelConfig c;
  c.head_dim = 64;
  c.rope_theta = 500000.0;
  c.rope_scaling.type = "llama3";
  c.rope_scaling.factor = 32.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 8192;
  return c;
}

TEST(RopeFreqs, DefaultIsThetaPowers) {
  ModelConfig c = llama32();
  c.rope_scaling = RopeScaling{};
  const auto f = rope_inv_freq(c);
  ASSERT_EQ(f.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    EXPECT_NEAR(f[i], std::pow(500000.0, -2.0 * i / 64), 1e-6 * std::pow(500000.0, -2.0 * i / 64))
        << i;
  }
}

TEST(RopeFreqs, LinearDividesByFactor) {
  ModelConfig c = llama32();
  c.rope_scaling = RopeScaling{};
  const auto base = rope_inv_freq(c);
  c.rope_scaling.type = "linear";
  c.rope_scaling.factor = 4.0;
  const auto f = rope_inv_freq(c);
  for (size_t i = 0; i < f.size(); ++i) EXPECT_FLOAT_EQ(f[i], base[i] / 4.0f);
}

// Llama 3: wavelengths shorter than 8192/4 keep their frequency, longer than 8192/1 are divided
// by the factor, and the band between is interpolated (smooth factor in (0, 1)).
TEST(RopeFreqs, Llama3Bands) {
  ModelConfig c = llama32();
  const auto f = rope_inv_freq(c);
  c.rope_scaling = RopeScaling{};
  const auto base = rope_inv_freq(c);
  int n_high = 0, n_low = 0, n_mid = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const double wavelen = 2 * M_PI / base[i];
    if (wavelen < 2048) {
      EXPECT_FLOAT_EQ(f[i], base[i]) << i;
      ++n_high;
    } else if (wavelen > 8192) {
      EXPECT_FLOAT_EQ(f[i], base[i] / 32.0f) << i;
      ++n_low;
    } else {
      const double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
      EXPECT_NEAR(f[i], (1 - smooth) * base[i] / 32 + smooth * base[i], 1e-6 * base[i]) << i;
      EXPECT_LT(f[i], base[i]);
      EXPECT_GT(f[i], base[i] / 32.0f);
      ++n_mid;
    }
  }
  EXPECT_GT(n_high, 0);
  EXPECT_GT(n_low, 0);
  EXPECT_GT(n_mid, 0);
}

}  // namespace
}  // namespace mlxm::engine
