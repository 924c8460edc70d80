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

// The same for the float4s a and b of p (stride a multiple of 4 floats, p 16-byte aligned),
// both sums advancing together.
__device__ __forceinline__ void sum4x2(const float4* p, int64_t a, int64_t b, int kz,
                                       int64_t stride, float4& va, float4& vb) {
  if (kz == 1) {
    va = p[a];
    vb = p[b];
    return;
  }
  const int64_t s4 = stride / 4;
  va = make_float4(0.f, 0.f, 0.f, 0.f);
  vb = va;
#pragma unroll 4
  for (int z = 0; z < kz; ++z) {
    const float4 ta = p[z * s4 + a];
    const float4 tb = p[z * s4 + b];
    va.x += ta.x;
    va.y += ta.y;
    va.z += ta.z;
    va.w += ta.w;
    vb.x += tb.x;
    vb.y += tb.y;
    vb.z += tb.z;
    vb.w += tb.w;
  }
}

}  // namespace mlxm::engine::cuda::slices
