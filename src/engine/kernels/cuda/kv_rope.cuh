// Internal to kernels/cuda: what the kernels that write new K/V share (kv_store in ops.cu,
// qkv_rope_store in fused.cu, the stream GEMV's RoPE epilogue in gemv_stream.cu): the paged
// KV cache's element type as a kernel argument, the store of one value into a cache of either
// type, and the rotation of one RoPE pair (the same f32 operations everywhere, so the fused
// and the separate paths give the same values); and, for the kernels that read it, one cache
// element as a float.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/tensor/dtype.h"

namespace mlxm::engine::cuda::kv_rope {

enum Code : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

inline int code_of(DType t) { return t == DType::kF16 ? kF16 : (t == DType::kBF16 ? kBF16 : kF32); }

// base[i] = v rounded to the cache's type (round to nearest even).
__device__ __forceinline__ void store(void* base, int dt, int64_t i, float v) {
  if (dt == kF16) {
    static_cast<__half*>(base)[i] = __float2half_rn(v);
  } else if (dt == kBF16) {
    static_cast<__nv_bfloat16*>(base)[i] = __float2bfloat16_rn(v);
  } else {
    static_cast<float*>(base)[i] = v;
  }
}

__device__ __forceinline__ float to_float(__half h) { return __half2float(h); }
__device__ __forceinline__ float to_float(__nv_bfloat16 h) { return __bfloat162float(h); }

// NeoX RoPE of the pair (x1, x2) = dims (i, i + head_dim/2) at `pos` with inv_freq[i] = f.
__device__ __forceinline__ void rotate(float x1, float x2, float pos, float f, float& y1,
                                       float& y2) {
  const float angle = pos * f;  // f32 like rope_kernel
  float s, c;
  sincosf(angle, &s, &c);
  y1 = x1 * c - x2 * s;
  y2 = x2 * c + x1 * s;
}

}  // namespace mlxm::engine::cuda::kv_rope
