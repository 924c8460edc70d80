// Device helpers shared by the tensor-core kernels (gemm.cu, gemm_decode.cu,
// attention_prefill_mma.cu): mma.sync m16n8k16 with f32 accumulation in the operand type of a
// weight_load.cuh tag, and ldmatrix (plain and transposed).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda::mma {

// The weight_load.cuh tag of a 16-bit operand type T (__half or __nv_bfloat16): the m16n8k16
// overloads below take tags.
template <typename T>
using TagOf = std::conditional_t<std::is_same_v<T, __half>, weights::F16Tag, weights::BF16Tag>;

// c (4 f32, m16n8 accumulator) += a (4 regs, m16k16 row-major) · b (2 regs, k16n8 col-major).
__device__ __forceinline__ void m16n8k16(float* c, const uint32_t* a, const uint32_t* b,
                                         weights::F16Tag) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void m16n8k16(float* c, const uint32_t* a, const uint32_t* b,
                                         weights::BF16Tag) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Four 8x8 16-bit matrices from shared memory (lane l gives the row address l of matrix l/8).
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* smem) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// The same, each matrix transposed (lane l gets elements (2·(l mod 4), l / 4) and
// (2·(l mod 4) + 1, l / 4)): the B fragments of a row-major k × n operand.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* smem) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

}  // namespace mlxm::engine::cuda::mma
