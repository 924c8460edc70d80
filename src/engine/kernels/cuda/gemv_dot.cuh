// Internal to kernels/cuda: the arithmetic of the int8-activation GEMVs (gemv_i8.cu's
// gemv_i8_kernel, gemv_stream.cu's weight stream and gemv_bulk.cu's bulk-copied stream), so
// that all compute a 32-value unit the same way: 4-bit codes (nibbles, x stored in the perm4
// order of quant_rows.cuh) or 8-bit codes against int8 activations by dp4a, then one f32 update
// per (row, activation row): fma_unit, on x's unit as load_x_unit reads it.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda::gemv_dot {

// c + Σ_k a.byte[k] (unsigned) · b.byte[k] (signed).
__device__ __forceinline__ int dp4a_us(uint32_t a, uint32_t b, int c) {
  int d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

// One activation row's 32-value unit as the dot takes it: its int8 values (x stored in the perm4
// order for 4-bit weights) and (d, Σx).
struct XUnit {
  uint32_t w[8];
  float2 ds;
};

// Unit u of activation row j: xq the quantized rows (x_stride uint4 per row), xds their (d, Σx)
// per unit (n_units per row).
__device__ __forceinline__ XUnit load_x_unit(const uint4* __restrict__ xq,
                                             const float2* __restrict__ xds, int x_stride,
                                             int n_units, int u, int j) {
  const uint4 xa = __ldg(xq + j * x_stride + 2 * u);
  const uint4 xb = __ldg(xq + j * x_stride + 2 * u + 1);
  return XUnit{{xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w}, __ldg(xds + j * n_units + u)};
}

// One weight row's unit against one activation row's: wv the row's BITS/4 16-byte code chunks,
// s / b its group's scale and bias. Returns fmaf(s·d, Σ c·q, fmaf(b, Σx, acc)).
template <int BITS>
__device__ __forceinline__ float fma_unit(const uint4 (&wv)[BITS / 4], float s, float b,
                                          const XUnit& x, float acc) {
  int dot = 0;
  if constexpr (BITS == 4) {
    // High nibbles left in place (bytes 16·c, still unsigned): one LOP3 per word instead of a
    // shift and a LOP3. Their sum is 16 times the dot (|hi| ≤ 16 · 240 · 128, a multiple of
    // 16), so hi >> 4 is exact and dot the same integer as with shifted codes: the same floats
    // (bench/NOTES.md run 212: 3B batch 1 +1.7 %).
    int hi = 0;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const uint32_t v = weights::word_of(wv[0], q);
      dot = dp4a_us(v & 0x0F0F0F0Fu, x.w[2 * q], dot);
      hi = dp4a_us(v & 0xF0F0F0F0u, x.w[2 * q + 1], hi);
    }
    dot += hi >> 4;
  } else {
#pragma unroll
    for (int c = 0; c < BITS / 4; ++c) {
#pragma unroll
      for (int q = 0; q < 4; ++q) dot = dp4a_us(weights::word_of(wv[c], q), x.w[4 * c + q], dot);
    }
  }
  return fmaf(__fmul_rn(s, x.ds.x), __int2float_rn(dot), fmaf(b, x.ds.y, acc));
}

// One unit of ROWS weight rows (wv, s, b per row as in fma_unit) against activation rows j < NR,
// row j's unit from x_of(j): acc[r][j] = fma_unit(wv[r], s[r], b[r], x_of(j), acc[r][j]).
template <int BITS, int ROWS, int NR, typename XOf>
__device__ __forceinline__ void accumulate_unit_x(const uint4 (&wv)[ROWS][BITS / 4],
                                                  const float (&s)[ROWS], const float (&b)[ROWS],
                                                  XOf&& x_of, float (&acc)[ROWS][NR]) {
#pragma unroll
  for (int j = 0; j < NR; ++j) {
    const XUnit x = x_of(j);
#pragma unroll
    for (int r = 0; r < ROWS; ++r) acc[r][j] = fma_unit<BITS>(wv[r], s[r], b[r], x, acc[r][j]);
  }
}

// Unit u (values 32u .. 32u + 31) of the activation rows j < NR (rows past n repeat row n - 1,
// whose sums the caller does not store), loaded by load_x_unit, by accumulate_unit_x.
template <int BITS, int ROWS, int NR>
__device__ __forceinline__ void accumulate_unit(const uint4 (&wv)[ROWS][BITS / 4],
                                                const float (&s)[ROWS], const float (&b)[ROWS],
                                                const uint4* __restrict__ xq,
                                                const float2* __restrict__ xds, int x_stride,
                                                int n_units, int u, int n,
                                                float (&acc)[ROWS][NR]) {
  accumulate_unit_x<BITS>(wv, s, b, [&](int j) {
    return load_x_unit(xq, xds, x_stride, n_units, u, min(j, n - 1));
  }, acc);
}

}  // namespace mlxm::engine::cuda::gemv_dot
