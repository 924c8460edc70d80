// Per-block phase stamps of a kernel (a diagnostic of the decode attention, ops.cu). Compiled
// in only with -DMLXM_CUDA_TIMELINE (tools/gpu/check.sh with MLXM_CUDA_TIMELINE=1; read by
// tools/gpu/attn_timeline.sh); otherwise every stamp is nothing. Thread 0 of each block
// writes %globaltimer (ns) at phase k into slot [block][k], after the values it is given have
// arrived (an empty asm that uses them), so a stamp after loads marks their completion. Every
// launch overwrites the slots: after a run they hold the last launch.
#pragma once

#include <cstdint>

namespace mlxm::engine::cuda::timeline {

inline constexpr int kBlocks = 1024;
inline constexpr int kPhases = 8;

#ifdef MLXM_CUDA_TIMELINE
__device__ __forceinline__ void use(int v) { asm volatile("" ::"r"(v) : "memory"); }
__device__ __forceinline__ void use(float v) { asm volatile("" ::"f"(v) : "memory"); }

// Phase k of this block into slots (kBlocks × kPhases) once `vals` have arrived.
template <typename... V>
__device__ __forceinline__ void stamp(unsigned long long (*slots)[kPhases], int k, V... vals) {
  (use(vals), ...);
  if (threadIdx.x != 0) return;
  const unsigned b = blockIdx.y * gridDim.x + blockIdx.x;
  if (b >= static_cast<unsigned>(kBlocks)) return;
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  slots[b][k] = t;
}
#endif

}  // namespace mlxm::engine::cuda::timeline
