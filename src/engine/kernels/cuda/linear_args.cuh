// Internal to kernels/cuda: the operands of every quantized-linear launch, y (n, n_out) =
// x (n, n_in) · Wᵀ (+ bias) for MLX affine 4/8-bit weights with F16/BF16 scales. GemmArgs
// (gemm.cuh), GemvI8Args (gemv_i8.cuh) and CublasArgs (cublas_gemm.cuh) add their own fields.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mlxm::engine::cuda::detail {

struct QuantLinearArgs {
  const uint4* w = nullptr;      // codes (n_out, n_in*bits/32) u32, row-major
  const uint32_t* sb = nullptr;  // (n_out, n_in/group) (scale, bias) pairs, f16 or bf16
  const float* bias = nullptr;   // (n_out) f32 or null
  const float* x = nullptr;      // (n, n_in) f32, 16-byte aligned
  float* y = nullptr;            // (n, n_out) f32
  int n = 0, n_out = 0, n_in = 0;
  int bits = 4;                  // 4 or 8
  int group_size = 64;           // 32, 64 or 128
  bool f16 = false;              // scales F16 (f16 operands) or BF16 (bf16 operands)
};

// log2 of a power of two (the group sizes 32, 64, 128 as shifts).
inline int log2_exact(int v) {
  int s = 0;
  while ((1 << s) < v) ++s;
  return s;
}

}  // namespace mlxm::engine::cuda::detail
