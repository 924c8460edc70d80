// Internal to kernels/cuda: the cuBLASLt path of CudaLinear::forward for MLX affine 4/8-bit
// weights (cublas_gemm.cu), used for many rows (prefill) when the caller gives a scratch.
//
// y (n, n_out) row-major = x·Wᵀ is, column-major, D (n_out × n) = Wcᵀ·Xc. Per chunk of output
// rows [r0, r1): the chunk dequantized into the scratch (row-major (rows, n_in) = col-major
// n_in × rows: A with TRANSA = T), x rounded once per call (col-major n_in × n: B, N), D = y + r0
// (f32, col-major rows × n, ld = n_out). F16/BF16 operands (the scales' dtype), f32 compute and
// output, alpha 1, beta 0. The bias, if any, is added by one kernel after the last chunk.
//
// Scratch layout (256-byte aligned base, cublas_scratch_size() in cuda_linear.h):
//   [0, kCublasWorkspaceBytes)   cuBLASLt workspace
//   [.., + x_bytes(n, n_in))     x in the operand type
//   [.., end)                    dequantized weight rows, chunk_rows(…) rows per chunk
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "engine/kernels/cuda/linear_args.cuh"

namespace mlxm::engine::cuda::detail {

struct CublasArgs : QuantLinearArgs {
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
};

// Bytes of x (n, n_in) in the 16-bit operand type, rounded up to 256.
size_t cublas_x_bytes(int64_t n, int64_t n_in);

// Weight rows per chunk that the scratch holds after the workspace and the x copy: all n_out
// rows if they fit, else a multiple of 64; 0 when not even min(n_out, 64) rows fit.
int64_t cublas_chunk_rows(int64_t n, int64_t n_out, int64_t n_in, size_t scratch_bytes);

// Enqueues y = x·Wᵀ (+ bias) on `stream`. Every cuBLASLt plan (one per distinct chunk shape) is
// made before anything is enqueued: kUnimplemented when cuBLASLt has no algorithm for the
// shape (nothing enqueued: the caller may take another path), kUnavailable when cuBLASLt
// cannot be loaded. A failure after that is returned as a Status (y then holds partial results
// and must not be used).
Status launch_cublas_linear(const CublasArgs& a, cudaStream_t stream);

}  // namespace mlxm::engine::cuda::detail
