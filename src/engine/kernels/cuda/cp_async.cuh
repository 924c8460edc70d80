// Internal to kernels/cuda: asynchronous global -> shared copies (cp.async, sm_80+) for the
// pipelined kernels (gemm_decode.cu, gemv_stream.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mlxm::engine::cuda::cp_async {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// No "memory" clobbers: the compiler may move ordinary shared loads across these, so a kernel
// that refills a slot it has just read orders the two with a barrier (__syncwarp/__syncthreads).
// Copies BYTES (4 or 16) from src to the shared address d; valid == false writes zeros.
template <int BYTES>
__device__ __forceinline__ void copy(uint32_t d, const void* src, bool valid) {
  const int n = valid ? BYTES : 0;
  if constexpr (BYTES == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src), "r"(n));
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;" ::"r"(d), "l"(src), "n"(BYTES),
                 "r"(n));
  }
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;"); }
// Waits until at most N of this thread's committed groups are pending; the completed copies are
// visible to this thread (other threads need a barrier as well).
template <int N>
__device__ __forceinline__ void wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

}  // namespace mlxm::engine::cuda::cp_async
