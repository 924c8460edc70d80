// Internal to kernels/cuda: producer kernels (the norms, SiLU·mul) writing their output rows in
// the form the next linear's kernel reads (cuda_ops.h XTarget): quantized for the int8 GEMV
// (quant_rows.cuh) or rounded for the batched-decode GEMM (gemm_x.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/gemm_x.cuh"
#include "engine/kernels/cuda/quant_rows.cuh"

namespace mlxm::engine::cuda::x_target {

// A target's form as the kernels take it.
enum Form : int { kInt8 = 0, kInt8Perm4 = 1, kGemmBF16 = 2, kGemmF16 = 3 };
inline int form_of(const XTarget& q) {
  if (q.gemm) return q.f16 ? kGemmF16 : kGemmBF16;
  return q.bits == 4 ? kInt8Perm4 : kInt8;
}

// Called by every lane of the warp (the int8 form shuffles; quant_rows::store_block's lane
// groups): the lane's 4 values `v` are chunk `chunk` of row `row` of a dim-wide input (dim a
// multiple of 64 for the GEMM's form); `valid` false past the row (nothing written).
__device__ __forceinline__ void store(float4 v, bool valid, int64_t chunk, void* scratch, int dim,
                                      int64_t row, int form) {
  if (form >= kGemmBF16) {
    if (valid) gemm_x::store_chunk(v, chunk, gemm_x::row(scratch, dim, row), form == kGemmF16);
    return;
  }
  quant_rows::store_block(v, valid, chunk, quant_rows::xq_row(scratch, dim, row),
                          quant_rows::xds_row(scratch, dim, row), form == kInt8Perm4);
}

}  // namespace mlxm::engine::cuda::x_target
