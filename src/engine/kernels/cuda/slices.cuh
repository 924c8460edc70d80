// Internal to kernels/cuda: reads of an input given as split-K slices (split_k.h), summed in z
// order from 0 like splitk_reduce_kernel, so a consumer sees the same floats as after a reduce.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mlxm::engine::cuda::slices {

__device__ __forceinline__ float sum(const float* p, int64_t i, int kz, int64_t stride) {
  if (kz == 1) return p[i];
  float v = 0.0f;
#pragma unroll 4
  for (int z = 0; z < kz; ++z) v += p[z * stride + i];
  return v;
}

// The same for float4 i4 of p (stride a multiple of 4 floats, p 16-byte aligned).
__device__ __forceinline__ float4 sum4(const float4* p, int64_t i4, int kz, int64_t stride) {
  if (kz == 1) return p[i4];
  const int64_t s4 = stride / 4;
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 4
  for (int z = 0; z < kz; ++z) {
    const float4 t = p[z * s4 + i4];
    v.x += t.x;
    v.y += t.y;
    v.z += t.z;
    v.w += t.w;
  }
  return v;
}

}  // namespace mlxm::engine::cuda::slices
