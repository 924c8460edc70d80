// Internal to kernels/cuda: operand preparation for the cuBLASLt path of CudaLinear
// (cublas_gemm.cu): MLX affine 4/8-bit weight rows dequantized to F16/BF16, f32 activations
// rounded to that type, and the bias added afterwards. The rounding is the tensor-core GEMM's
// (gemm.cu): w = s·c + b in f32, rounded once (to nearest) to the scales' dtype; x rounded once.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace mlxm::engine::cuda::detail {

// out (r1 − r0, n_in) row-major, F16 (f16) or BF16 = rows [r0, r1) of W dequantized.
// w: codes (n_out, n_in·bits/32) u32 row-major; sb: (n_out, n_in/group) (scale, bias) pairs in
// the same 16-bit type. REQUIRES bits 4 or 8, group 32/64/128 dividing n_in, n_in % 32 == 0,
// `out` 16-byte aligned. One thread per 16-byte chunk of codes (a chunk never straddles a
// group): one 16-byte load, 4 (4-bit) or 2 (8-bit) 16-byte stores.
Status launch_dequant_rows(const uint4* w, const uint32_t* sb, int64_t n_out, int64_t n_in,
                           int bits, int group_size, bool f16, int64_t r0, int64_t r1, void* out,
                           cudaStream_t stream);

// out[i] = x[i] rounded to F16 (f16) or BF16, i < count. REQUIRES count % 4 == 0, x 16-byte
// and out 8-byte aligned.
Status launch_round_operand(const float* x, void* out, int64_t count, bool f16,
                            cudaStream_t stream);

// y (n, n_out) += bias (n_out) broadcast over the rows.
Status launch_add_bias(float* y, const float* bias, int64_t n, int64_t n_out, cudaStream_t stream);

}  // namespace mlxm::engine::cuda::detail
