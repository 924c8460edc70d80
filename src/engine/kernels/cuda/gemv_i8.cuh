// Internal to kernels/cuda: the int8-activation (dp4a) GEMV for MLX affine 4/8-bit weights
// (gemv_i8.cu), used by CudaLinear::forward for few rows when ForwardOptions::gemv_i8 is set
// and a scratch buffer is given.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace mlxm::engine::cuda::detail {

struct GemvI8Args {
  const uint4* w = nullptr;      // codes (n_out, n_in*bits/32) u32, row-major
  const uint32_t* sb = nullptr;  // (n_out, n_in/group) (scale, bias) pairs, f16 or bf16
  const float* bias = nullptr;   // (n_out) f32 or null
  const float* x = nullptr;      // (n, n_in) f32
  float* y = nullptr;            // (n, n_out) f32
  int n = 0;                     // 1..8
  int n_out = 0, n_in = 0;       // n_in a multiple of 32
  int bits = 4;                  // 4 or 8
  int group_size = 64;           // 32, 64 or 128
  bool f16 = false;              // scales F16 or BF16
  void* scratch = nullptr;       // >= gemv_i8_scratch_bytes(n_in) bytes, 16-byte aligned
  bool x_ready = false;          // the scratch already holds x quantized (quant_rows.cuh): no
                                 // quantize launch, x unread
};

// Two launches on `stream`: x quantized into the scratch (unless x_ready), then the GEMV.
Status launch_gemv_i8(const GemvI8Args& a, cudaStream_t stream);

}  // namespace mlxm::engine::cuda::detail
