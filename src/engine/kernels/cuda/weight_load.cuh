// Device helpers shared by the linear kernels (linear.cu, gemv_i8.cu, gemm.cu, dequant.cu):
// streamed 16-byte weight loads, the F16/BF16 halves of a packed (scale, bias) word, exact
// codes as floats, rounding pairs to F16/BF16, and the GEMVs' split-K block epilogue.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace mlxm::engine::cuda::weights {

struct F16Tag {};
struct BF16Tag {};

// The low 16 bits of `raw` as an F16 / BF16 value.
__device__ __forceinline__ float half_bits_to_f(uint32_t raw, F16Tag) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(raw)));
}
__device__ __forceinline__ float half_bits_to_f(uint32_t raw, BF16Tag) {
  return __uint_as_float((raw & 0xFFFFu) << 16);
}

// 16 bytes of streamed weights: read-only, not kept in L1 (leaves L1 to the activations).
__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// Two floats rounded (to nearest) to F16 / BF16, packed low-first into a word.
__device__ __forceinline__ uint32_t pack2(float lo, float hi, F16Tag) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}
__device__ __forceinline__ uint32_t pack2(float lo, float hi, BF16Tag) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Code e (BITS wide) of a word as an exact float: OR into the mantissa of 2^23, subtract 2^23.
template <int BITS>
__device__ __forceinline__ float code_f(uint32_t word, int e) {
  constexpr uint32_t kMask = (1u << BITS) - 1u;
  return __uint_as_float(0x4B000000u | ((word >> (e * BITS)) & kMask)) - 8388608.0f;
}

// Word q (0..3) of a 16-byte chunk.
__device__ __forceinline__ uint32_t word_of(const uint4& v, int q) {
  return q == 0 ? v.x : (q == 1 ? v.y : (q == 2 ? v.z : v.w));
}

// The epilogue of a split-K GEMV block of WARPS warps: warp w holds partial sums acc[r][j]
// (row r of its ROWS rows, activation row j) over its K-slice w & (wk − 1), wk = 1 << wk_log2;
// its rows are the block's (w >> wk_log2)·ROWS + r. Sums over the lanes, then over the wk
// K-slices in `red` (shared, WARPS entries), and writes y (n, n_out) (+ bias) for rows < n_out
// and activation rows < n.
// The sum of v over the warp's 32 lanes, in every lane (an xor butterfly).
__device__ __forceinline__ float warp_allsum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  return v;
}

template <int WARPS, int ROWS, int NR>
__device__ __forceinline__ void store_split_k_rows(float (&acc)[ROWS][NR],
                                                   float (*red)[ROWS * NR], int wk_log2,
                                                   const float* __restrict__ bias,
                                                   float* __restrict__ y, int n_out, int n) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int wk = 1 << wk_log2;
  const int rows_per_block = ROWS * (WARPS >> wk_log2);
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
#pragma unroll
    for (int j = 0; j < NR; ++j) {
      acc[r][j] = warp_allsum(acc[r][j]);
    }
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
#pragma unroll
      for (int j = 0; j < NR; ++j) red[warp][r * NR + j] = acc[r][j];
    }
  }
  __syncthreads();
  const int n_entries = (WARPS >> wk_log2) * ROWS * NR;
  for (int e = threadIdx.x; e < n_entries; e += blockDim.x) {
    const int erw = e / (ROWS * NR);
    const int rem = e % (ROWS * NR);
    float sum = 0.0f;
    for (int kk = 0; kk < wk; ++kk) sum += red[erw * wk + kk][rem];
    const int r = rem / NR;
    const int j = rem % NR;
    const int row = blockIdx.x * rows_per_block + erw * ROWS + r;
    if (row < n_out && j < n) {
      y[static_cast<size_t>(j) * n_out + row] = sum + (bias != nullptr ? bias[row] : 0.0f);
    }
  }
}

}  // namespace mlxm::engine::cuda::weights
