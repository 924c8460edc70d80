// Thread-block cluster primitives (sm_90+) in PTX: the block's rank, addresses in a peer
// block's shared memory (distributed shared memory), loads and stores there, and the cluster
// barrier. Callers launch these kernels as clusters only on sm_90+; below it the functions
// compile to nothing (and are never reached).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mlxm::engine::cuda::cluster {

// The block's rank in its cluster.
__device__ __forceinline__ uint32_t rank() {
  uint32_t r = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
#endif
  return r;
}

// The address of `p` (this block's shared memory) in block `peer`'s shared memory.
__device__ __forceinline__ uint32_t peer_addr(const void* p, uint32_t peer) {
  uint32_t out = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const uint32_t local = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(out) : "r"(local), "r"(peer));
#else
  (void)p;
  (void)peer;
#endif
  return out;
}

__device__ __forceinline__ void store_peer(uint32_t addr, float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("st.shared::cluster.f32 [%0], %1;" ::"r"(addr), "f"(v) : "memory");
#else
  (void)addr;
  (void)v;
#endif
}

__device__ __forceinline__ uint64_t load_peer_u64(uint32_t addr) {
  uint64_t v = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("ld.shared::cluster.u64 %0, [%1];" : "=l"(v) : "r"(addr) : "memory");
#else
  (void)addr;
#endif
  return v;
}

// Every thread of the cluster's blocks: the stores before it are visible to the cluster after
// it.
__device__ __forceinline__ void sync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::
                   : "memory");
#endif
}

}  // namespace mlxm::engine::cuda::cluster
