// Internal to kernels/cuda: the tensor-core GEMM for MLX affine 4/8-bit weights (gemm.cu),
// used by CudaLinear::forward when a step has many rows (prefill, batched decode).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "engine/kernels/cuda/linear_args.cuh"

namespace mlxm::engine::cuda::detail {

struct GemmArgs : QuantLinearArgs {
  float* workspace = nullptr;    // split-K partial sums, may be null
  size_t workspace_floats = 0;
  bool wide = true;              // n <= 64: the wide configuration when the workspace allows
};

// y = x · Wᵀ (+ bias): weight tiles dequantized into shared memory in the scales' dtype, the
// activations rounded to that dtype, mma.sync m16n8k16 with f32 accumulation. Split-K (with a
// deterministic second pass) when the output tiles alone would leave SMs idle and the
// workspace holds kz·n·n_out floats. Up to 64 rows with `wide` and a 16-byte aligned workspace
// of >= gemm_x_scratch_floats(n, n_in) floats (cuda_linear.h): x is first rounded to the
// operand type there and the wide configuration runs (partials after the x copy).
Status launch_gemm_q(const GemmArgs& a, cudaStream_t stream);

// The SM count the split-K choice uses, read once; also allows the wide kernels' shared memory
// on the current device (called at upload so that neither first happens inside a capture).
int gemm_sm_count();

}  // namespace mlxm::engine::cuda::detail
