// Device helpers shared by the GEMV kernels (linear.cu, gemv_i8.cu): streamed 16-byte weight
// loads and the F16/BF16 halves of a packed (scale, bias) word.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace mlxm::engine::cuda::weights {

struct F16Tag {};
struct BF16Tag {};

// The low 16 bits of `raw` as an F16 / BF16 value.
__device__ __forceinline__ float half_bits_to_f(uint32_t raw, F16Tag) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(raw)));
}
__device__ __forceinline__ float half_bits_to_f(uint32_t raw, BF16Tag) {
  return __uint_as_float((raw & 0xFFFFu) << 16);
}

// 16 bytes of streamed weights: read-only, not kept in L1 (leaves L1 to the activations).
__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// Word q (0..3) of a 16-byte chunk.
__device__ __forceinline__ uint32_t word_of(const uint4& v, int q) {
  return q == 0 ? v.x : (q == 1 ? v.y : (q == 2 ? v.z : v.w));
}

}  // namespace mlxm::engine::cuda::weights
