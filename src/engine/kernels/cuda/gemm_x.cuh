// Internal to kernels/cuda: the batched-decode GEMM's activation form (gemm_decode.cu), written
// by its own round_x_kernel or by the producer of its input (cuda_ops.h XTarget, x_target.cuh).
//
// Layout: row j (of at most 64) at 16-bit value j·kpad, kpad = n_in rounded up to 64; each
// 64-value K tile holds x[k0 + pi(p)] at position p, pi(p) = 16t + 8(s>>1) + (s&1) + 4h + 2e
// for p = 16s + 8h + 2t + e (gemm_decode.cu's header derives it from the mma fragments); the
// values past n_in are zeros. Values are x rounded to the operand type (bf16 or f16).
//
// A float4 chunk (natural K 4c .. 4c+3, r = 4c mod 16, t = (4c mod 64) / 16) lands at p0 =
// 32(r>>3) + 8((r>>2)&1) + 2t (s even, e = 0): x0 at p0, x2 at p0 + 1 (e = 1), x1 at p0 + 16
// (s odd), x3 at p0 + 17. So a chunk is two 32-bit words: (x0, x2) and (x1, x3).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda::gemm_x {

// The words of row j of an input of kpad (padded) values.
__device__ __forceinline__ uint32_t* row(void* xh, int kpad, int64_t j) {
  return static_cast<uint32_t*>(xh) + j * (kpad / 2);
}

// Writes chunk `chunk` (values 4·chunk .. 4·chunk + 3 of the row) of `words` (row()).
template <typename Tag>
__device__ __forceinline__ void store_chunk(float4 v, int64_t chunk, uint32_t* words) {
  const int64_t k = 4 * chunk;
  const int kk = static_cast<int>(k & 63), r = kk & 15;
  const int p0 = 32 * (r >> 3) + 8 * ((r >> 2) & 1) + 2 * (kk >> 4);
  uint32_t* tile = words + (k - kk) / 2;
  tile[p0 / 2] = weights::pack2(v.x, v.z, Tag{});
  tile[p0 / 2 + 8] = weights::pack2(v.y, v.w, Tag{});
}

__device__ __forceinline__ void store_chunk(float4 v, int64_t chunk, uint32_t* words, bool f16) {
  if (f16) {
    store_chunk<weights::F16Tag>(v, chunk, words);
  } else {
    store_chunk<weights::BF16Tag>(v, chunk, words);
  }
}

}  // namespace mlxm::engine::cuda::gemm_x
