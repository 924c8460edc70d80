// Internal to kernels/cuda: Hopper's bulk copy engine (cp.async.bulk, sm_90) and the shared
// memory mbarriers it completes on, for kernels where one thread brings whole rows into shared
// memory and other threads wait for them (gemv_bulk.cu's weights, attn_kv_bulk.cuh's K/V).
//
// Protocol per ring slot (a "full" and an "empty" barrier, each counting 1 arrival):
// the producer waits for `empty` (skipped on the slot's first use), arrives on `full` with the
// bytes it will copy (expect_tx), then issues the copies, which complete the transaction; the
// consumer waits for `full`, reads the slot, and arrives on `empty`. Phase parity: use k of a
// slot (k = 0, 1, 2, ...) waits for parity k & 1 on `full`, and the producer's k-th refill
// (k >= 1) for parity (k - 1) & 1 on `empty`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mlxm::engine::cuda::detail {
// Whether device 0 has the bulk copy engine (sm_90+; read once; runtime.cu). Host code.
bool device_has_bulk_copy();
}  // namespace mlxm::engine::cuda::detail

namespace mlxm::engine::cuda::bulk_copy {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count)
               : "memory");
}

// Makes initialized barriers visible to the copy engine (with a __syncthreads after it).
__device__ __forceinline__ void fence_init() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

__device__ __forceinline__ void arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)),
               "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}

// Spins until the barrier's phase with parity `parity` has completed.
__device__ __forceinline__ void wait(uint64_t* bar, uint32_t parity) {
  const uint32_t a = smem_addr(bar);
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        " selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done)
        : "r"(a), "r"(parity)
        : "memory");
  } while (done == 0);
}

// `bytes` (a multiple of 16; both addresses 16-byte aligned) from global `src` to shared
// `dst`, completing on `bar`'s transaction count.
__device__ __forceinline__ void copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::
          "r"(smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar))
      : "memory");
}

// copy() with an L2 cache policy (`policy` from createpolicy, e.g. evict_first_policy()).
__device__ __forceinline__ void copy_hint(void* dst, const void* src, uint32_t bytes,
                                          uint64_t* bar, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], "
      "[%1], %2, [%3], %4;" ::"r"(smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar)), "l"(policy)
      : "memory");
}

// The box at element coordinates (x, y) of the 2-D tensor map `map` (a __grid_constant__
// parameter) to shared `dst` (128-byte aligned), completing on `bar`'s transaction count with
// the box's full size (parts outside the tensor arrive as zeros).
__device__ __forceinline__ void copy_box_2d(void* dst, const void* map, int x, int y,
                                            uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];" ::"r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(smem_addr(bar))
      : "memory");
}

// An L2 cache policy that makes every line it is used for evict_first.
__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
  return p;
}

}  // namespace mlxm::engine::cuda::bulk_copy
