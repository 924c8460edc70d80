// MLX affine quantization (DESIGN §4), as MLX's quantize writes it, for tools and tests.
// Thread-safe (pure functions).
#pragma once

#include <cstdint>

namespace mlxm::engine {

// Quantizes one row w (n_in) in groups of `group_size`:
//   scale = (max - min) / (2^bits - 1), bias = min,
//   code  = clamp(round((w - bias) / scale), 0, 2^bits - 1)
// scale and bias are first rounded by `round_param` (e.g. to bf16, the dtype they are stored
// in) so the codes are chosen against the values the reader will see. Codes are packed as a
// little-endian bit stream: code j occupies bits [j*bits, (j+1)*bits) of the row.
// REQUIRES: bits in {2,3,4,5,6,8}; n_in % group_size == 0; n_in * bits % 32 == 0.
// words (n_in * bits / 32), scales/biases (n_in / group_size).
void quantize_affine_row(const float* w, int64_t n_in, int bits, int group_size,
                         float (*round_param)(float), uint32_t* words, float* scales,
                         float* biases);

// The inverse: out (n_in) = scale * code + bias.
void dequantize_affine_row(const uint32_t* words, const float* scales, const float* biases,
                           int64_t n_in, int bits, int group_size, float* out);

}  // namespace mlxm::engine
