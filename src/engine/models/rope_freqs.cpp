#include "engine/models/rope_freqs.h"

#include <cmath>

namespace mlxm::engine {

std::vector<float> rope_inv_freq(const ModelConfig& c) {
  const int dim = c.head_dim;
  std::vector<float> inv(static_cast<size_t>(dim / 2));
  // _compute_default_rope_parameters: 1 / base ** (arange(0, dim, 2).float() / dim), float32.
  const float base = static_cast<float>(c.rope_theta);
  for (int i = 0; i < dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[static_cast<size_t>(i)] = 1.0f / std::pow(base, e);
  }
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "linear") {
    const float f = static_cast<float>(s.factor);
    for (auto& x : inv) x /= f;
  } else if (s.type == "llama3") {
    // _compute_llama3_parameters.
    const float factor = static_cast<float>(s.factor);
    const float low = static_cast<float>(s.low_freq_factor);
    const float high = static_cast<float>(s.high_freq_factor);
    const float old_ctx = static_cast<float>(s.original_max_position_embeddings);
    const float low_freq_wavelen = old_ctx / low;
    const float high_freq_wavelen = old_ctx / high;
    const float two_pi = static_cast<float>(2.0 * M_PI);
    for (auto& f : inv) {
      const float wavelen = two_pi / f;
      float v = wavelen > low_freq_wavelen ? f / factor : f;
      const float smooth = (old_ctx / wavelen - low) / (high - low);
      const float smoothed = (1.0f - smooth) * v / factor + smooth * v;
      const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      f = medium ? smoothed : v;
    }
  }
  return inv;
}

}  // namespace mlxm::engine
