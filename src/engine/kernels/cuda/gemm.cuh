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
};

// y = x · Wᵀ (+ bias): weight tiles dequantized into shared memory in the scales' dtype, the
// activations rounded to that dtype, mma.sync m16n8k16 with f32 accumulation. Split-K (with a
// deterministic second pass) when the output tiles alone would leave SMs idle and the
// workspace holds kz·n·n_out floats.
Status launch_gemm_q(const GemmArgs& a, cudaStream_t stream);

// The SM count the split-K choice uses, read once (called at upload so that the first read
// never happens inside a graph capture).
int gemm_sm_count();

}  // namespace mlxm::engine::cuda::detail
