#include "engine/loader/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mlxm::engine {

void quantize_affine_row(const float* w, int64_t n_in, int bits, int group_size,
                         float (*round_param)(float), uint32_t* words, float* scales,
                         float* biases) {
  const int64_t n_words = n_in * bits / 32;
  std::memset(words, 0, static_cast<size_t>(n_words) * 4);
  const float max_code = static_cast<float>((1 << bits) - 1);
  for (int64_t g = 0; g < n_in / group_size; ++g) {
    const float* x = w + g * group_size;
    float lo = x[0], hi = x[0];
    for (int i = 1; i < group_size; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    float scale = (hi - lo) / max_code;
    float bias = lo;
    if (round_param != nullptr) {
      scale = round_param(scale);
      bias = round_param(bias);
    }
    scales[g] = scale;
    biases[g] = bias;
    for (int i = 0; i < group_size; ++i) {
      float c = scale > 0.0f ? std::nearbyint((x[i] - bias) / scale) : 0.0f;
      c = std::clamp(c, 0.0f, max_code);
      const uint64_t code = static_cast<uint64_t>(c);
      const int64_t bit = (g * group_size + i) * bits;
      const int64_t wi = bit / 32;
      const int sh = static_cast<int>(bit % 32);
      words[wi] |= static_cast<uint32_t>(code << sh);
      if (sh + bits > 32) words[wi + 1] |= static_cast<uint32_t>(code >> (32 - sh));
    }
  }
}

void dequantize_affine_row(const uint32_t* words, const float* scales, const float* biases,
                           int64_t n_in, int bits, int group_size, float* out) {
  const uint32_t mask = (1u << bits) - 1u;
  for (int64_t j = 0; j < n_in; ++j) {
    const int64_t bit = j * bits;
    const int64_t wi = bit / 32;
    const int sh = static_cast<int>(bit % 32);
    uint64_t v = words[wi] >> sh;
    if (sh + bits > 32) v |= static_cast<uint64_t>(words[wi + 1]) << (32 - sh);
    const uint32_t code = static_cast<uint32_t>(v) & mask;
    out[j] = scales[j / group_size] * static_cast<float>(code) + biases[j / group_size];
  }
}

}  // namespace mlxm::engine
