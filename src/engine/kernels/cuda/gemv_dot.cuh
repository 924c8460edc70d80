// Internal to kernels/cuda: the arithmetic of the int8-activation GEMVs (gemv_i8.cu's
// gemv_i8_kernel, gemv_stream.cu's weight stream and gemv_bulk.cu's bulk-copied stream), so
// that all compute a 32-value unit the same way: 4-bit codes (nibbles, x stored in the perm4 order of quant_rows.cuh) or 8-bit
// codes against int8 activations by dp4a, then one f32 update per (row, activation row).
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

// Unit u (values 32u .. 32u + 31) of the activation rows j < NR (rows past n repeat row n - 1,
// whose sums the caller does not store) against ROWS weight rows: wv[r] the row's BITS/4
// 16-byte code chunks of the unit, s[r] / b[r] its group's scale and bias; xq the quantized
// rows (x_stride uint4 per row), xds their (d, Σx) per unit (n_units per row).
// acc[r][j] = fmaf(s·d, Σ c·q, fmaf(b, Σx, acc[r][j])).
template <int BITS, int ROWS, int NR>
__device__ __forceinline__ void accumulate_unit(const uint4 (&wv)[ROWS][BITS / 4],
                                                const float (&s)[ROWS], const float (&b)[ROWS],
                                                const uint4* __restrict__ xq,
                                                const float2* __restrict__ xds, int x_stride,
                                                int n_units, int u, int n,
                                                float (&acc)[ROWS][NR]) {
#pragma unroll
  for (int j = 0; j < NR; ++j) {
    const int jj = min(j, n - 1);
    const uint4 xa = __ldg(xq + jj * x_stride + 2 * u);
    const uint4 xb = __ldg(xq + jj * x_stride + 2 * u + 1);
    const float2 ds = __ldg(xds + jj * n_units + u);
    const uint32_t xw[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      int dot = 0;
      if constexpr (BITS == 4) {
        // High nibbles left in place (bytes 16·c, still unsigned): one LOP3 per word instead
        // of a shift and a LOP3. Their sum is 16 times the dot (|hi| ≤ 16 · 240 · 128, a
        // multiple of 16), so hi >> 4 is exact and dot the same integer as with shifted
        // codes: the same floats (bench/NOTES.md run 212: 3B batch 1 +1.7 %).
        int hi = 0;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const uint32_t v = weights::word_of(wv[r][0], q);
          dot = dp4a_us(v & 0x0F0F0F0Fu, xw[2 * q], dot);
          hi = dp4a_us(v & 0xF0F0F0F0u, xw[2 * q + 1], hi);
        }
        dot += hi >> 4;
      } else {
#pragma unroll
        for (int c = 0; c < BITS / 4; ++c) {
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            dot = dp4a_us(weights::word_of(wv[r][c], q), xw[4 * c + q], dot);
          }
        }
      }
      acc[r][j] = fmaf(__fmul_rn(s[r], ds.x), __int2float_rn(dot), fmaf(b[r], ds.y, acc[r][j]));
    }
  }
}

}  // namespace mlxm::engine::cuda::gemv_dot
