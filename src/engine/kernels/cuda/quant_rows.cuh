// Internal to kernels/cuda: producer kernels (the norms, SiLU·mul) writing their output rows
// already quantized for the int8-activation GEMV of the next linear (gemv_i8.cu), so the GEMV
// needs no quantize launch of its own.
//
// Layout (gemv_i8.cu's scratch): xq int8 (8, n_in) at byte 0, then (d, Σx) float2
// (8, n_in/32) at byte 8·n_in; per 32-block d = max|x|/127, q = round(x/d) clamped to ±127,
// Σx the f32 sum of the block; for 4-bit weights each 8 values stored as x0 x2 x4 x6 x1 x3 x5 x7.
// The values equal quantize_x_kernel's except the summation order of Σx (8 lanes × 4 values
// here, 32 lanes there): f32 rounding of the bias term, nothing else.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mlxm::engine::cuda::quant_rows {

// The scratch's pointers for row j of an n_in-wide input.
__device__ __forceinline__ int8_t* xq_row(void* scratch, int n_in, int64_t j) {
  return static_cast<int8_t*>(scratch) + j * n_in;
}
__device__ __forceinline__ float2* xds_row(void* scratch, int n_in, int64_t j) {
  return reinterpret_cast<float2*>(static_cast<int8_t*>(scratch) + int64_t{8} * n_in) +
         j * (n_in / 32);
}

// Called by every lane of the warp (shuffles): lane l holds 4 consecutive values `v` of chunk
// `chunk` (values 4·chunk .. 4·chunk+3 of the row) and the 8 lanes of an aligned lane group
// hold the 8 chunks of one 32-block (chunk ≡ lane mod 8). `valid` is the same for the 8 lanes
// of a group (false: past the row, nothing written).
__device__ __forceinline__ void store_block(float4 v, bool valid, int64_t chunk, int8_t* xq,
                                            float2* xds, bool perm4) {
  float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
  float sum = (v.x + v.y) + (v.z + v.w);
#pragma unroll
  for (int off = 1; off < 8; off <<= 1) {
    amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, off));
    sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
  }
  const float d = __fdiv_rn(amax, 127.0f);
  auto q8 = [d](float x) -> uint32_t {
    int q = d > 0.0f ? __float2int_rn(__fdiv_rn(x, d)) : 0;
    q = max(-127, min(127, q));
    return static_cast<uint32_t>(q) & 0xFFu;
  };
  const uint32_t mine = q8(v.x) | (q8(v.y) << 8) | (q8(v.z) << 16) | (q8(v.w) << 24);
  const uint32_t other = __shfl_xor_sync(0xFFFFFFFFu, mine, 1);
  uint32_t word = mine;
  if (perm4) {
    // Values x0..x3 sit in the even chunk of a pair, x4..x7 in the odd one; the pair's 8 bytes
    // are x0 x2 x4 x6 | x1 x3 x5 x7: the even lane writes the first word, the odd the second.
    const bool even = (chunk & 1) == 0;
    const uint32_t lo = even ? mine : other;
    const uint32_t hi = even ? other : mine;
    word = even ? __byte_perm(lo, hi, 0x6420) : __byte_perm(lo, hi, 0x7531);
  }
  if (!valid) return;
  reinterpret_cast<uint32_t*>(xq)[chunk] = word;
  if ((chunk & 7) == 0) xds[chunk >> 3] = make_float2(d, sum);
}

}  // namespace mlxm::engine::cuda::quant_rows
