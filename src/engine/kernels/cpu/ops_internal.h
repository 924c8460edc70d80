// Internal helpers of the elementwise and attention kernels (ops.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cpu/ops.h"

namespace mlxm::engine::cpu {

inline float sum_squares(const float* x, int64_t n) {
  float a[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) a[j] += x[i + j] * x[i + j];
  }
  for (; i < n; ++i) a[0] += x[i] * x[i];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// y = x * s * w
inline void scale_mul(const float* x, const float* w, float s, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s * w[i];
}

// n f32 values to dtype (F32/F16/BF16), round to nearest even.
void from_f32(DType t, const float* src, void* dst, int64_t n);

struct AttnScratch {
  std::vector<float> k;       // (block_size, head_dim)
  std::vector<float> v;       // (block_size, head_dim)
  std::vector<float> scores;  // (group, block_size)
  std::vector<float> acc;     // (group, head_dim)
  std::vector<float> m, l;    // (group)
};

// Attention of `group` query heads (q, out: (group, head_dim)) sharing kv head `kvh`.
void attend_group(const float* q, int group, const AttnQuery& query, const KvLayerView& kv,
                  int kvh, float scale, float* out, AttnScratch& s, bool avx512);

namespace avx512_ops {
void silu_mul_row(const float* g, const float* u, int64_t n, float* out);
// Converts n values of dtype (F32/F16/BF16) to f32.
void to_f32_row(DType t, const void* src, float* dst, int64_t n);
float dot(const float* a, const float* b, int64_t n);
// y += a * x
void axpy(float a, const float* x, int64_t n, float* y);
}  // namespace avx512_ops

}  // namespace mlxm::engine::cpu
