// Internal to kernels/cuda: the tensor-core GEMM for MLX affine 4/8-bit weights (gemm.cu),
// used by CudaLinear::forward when a step has many rows (prefill, batched decode).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/linear_args.cuh"

namespace mlxm::engine::cuda::detail {

struct GemmArgs : QuantLinearArgs {
  float* workspace = nullptr;    // split-K partial sums (and the decode GEMM's x), may be null
  size_t workspace_floats = 0;
  GemmDecode decode = GemmDecode::kAuto;  // 4-bit rows <= 64: which GEMM (cuda_linear.h)
  SplitKOutput* split_k_out = nullptr;    // ForwardOptions::split_k_out
  // The decode GEMM's x already in its form (gemm_x.cuh, 64 rows of n_in values), written by
  // the producer of x (ForwardOptions::gemm_x_ready); null: rounded into the workspace's head.
  const void* x_ready = nullptr;
};

// y = x · Wᵀ (+ bias): weight tiles dequantized into shared memory in the scales' dtype, the
// activations rounded to that dtype, mma.sync m16n8k16 with f32 accumulation. Split-K (with a
// deterministic second pass) when the output tiles alone would leave SMs idle and the
// workspace holds kz·n·n_out floats.
Status launch_gemm_q(const GemmArgs& a, cudaStream_t stream);

// 4-bit weights, 1..64 rows (batched decode): the cp.async-pipelined GEMM of gemm_decode.cu
// (x rounded once into the workspace's head unless a.x_ready, codes dequantized straight into
// mma fragments).
// kUnimplemented, with nothing enqueued, when plan_gemm_decode (gemm_decode_plan.h) leaves the
// call to the 64x64 GEMM. launch_gemm_q calls it first unless decode is kOff.
Status launch_gemm_decode(const GemmArgs& a, cudaStream_t stream);

// y = Σ_z part[z] (kz·n·n_out floats, summed in z order) + bias: split-K's second pass; or,
// with a.split_k_out and no bias, no launch: the partial sums are left to the consumer.
Status finish_split_k(const GemmArgs& a, const float* part, int kz, cudaStream_t stream);

// The SM count the split-K choice uses, read once (called at upload so that the first read
// never happens inside a graph capture).
int gemm_sm_count();

}  // namespace mlxm::engine::cuda::detail
