// Internal to kernels/cuda: the decode attention's K/V rounds brought into shared memory by the
// bulk copy engine (AttnSplit::kv_bulk; ops.cu paged_decode_kernel; sm_90).
//
// Without it every lane loads its HPL dims of each of the round's kU positions, K and V
// (2·kU loads per lane, 32 lanes per row). With it lane 0 issues one bulk copy per row (hd
// elements, K and V of each position) into the warp's staging, completing on the warp's
// mbarrier; the lanes wait for the barrier and read their dims from shared memory. Same values,
// so the same floats. Measured (bench/NOTES.md runs 92–94): the round's wait 3.55 → 2.53 µs at
// 8B, 3B b1 +1.6–3.0 %, 8B +1.5–1.8 %.
//
// Barrier phases: round r of a warp (r = 0, 1, ...) waits for parity r & 1. Before a refill the
// lanes' reads of the staging (generic proxy) are ordered before the copy engine's writes
// (async proxy): __syncwarp, then a proxy fence by the issuing lane.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "engine/kernels/cuda/bulk_copy.cuh"
#include "engine/kernels/cuda/kv_rope.cuh"

namespace mlxm::engine::cuda::attn_kv_bulk {

// HPL consecutive staged elements as floats (HPL-aligned in shared memory: one load). Also the
// whole-context kernel's (attention_decode_whole.cu).
template <typename T, int HPL>
__device__ __forceinline__ void load_dims(const T* p, float (&o)[HPL]) {
  if constexpr (HPL >= 2) {
    using V = std::conditional_t<HPL == 2, unsigned int,
                                 std::conditional_t<HPL == 4, uint2, uint4>>;
    const V raw = *reinterpret_cast<const V*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < HPL; ++i) o[i] = kv_rope::to_float(e[i]);
  } else {
    o[0] = kv_rope::to_float(p[0]);
  }
}

// One warp's staging: KU rows of K (HPL·32 elements apart), then KU rows of V.
template <typename T, int HPL, int KU>
struct WarpStage {
  static constexpr int kRow = HPL * 32;                             // elements per staged row
  static constexpr int kBytes = KU * kRow * 2 * static_cast<int>(sizeof(T));  // per warp

  T* k;                 // shared: this warp's staging (kBytes, 16-byte aligned)
  uint64_t* bar;        // shared: this warp's barrier (initialized with count 1)
  uint32_t phase = 0;   // parity of the barrier's next phase
  bool refill = false;  // the lanes have read the staging since the last copies

  // Lane 0 copies the K and V rows (hd elements) of every position u with off[u] >= 0 (the
  // element offset of its row in kc / vc, as lane 0 holds it) onto the barrier. Returns
  // whether any copy was issued (off is warp-uniform in sign, so the result is too).
  __device__ __forceinline__ bool issue(const T* kc, const T* vc, const int64_t (&off)[KU],
                                        int hd, int lane) {
    uint32_t bytes = 0;
#pragma unroll
    for (int u = 0; u < KU; ++u) bytes += off[u] >= 0 ? 2u * hd * sizeof(T) : 0u;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (bytes != 0 && lane == 0) {
      if (refill) asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
      bulk_copy::arrive_expect_tx(bar, bytes);
      T* v = k + KU * kRow;
#pragma unroll
      for (int u = 0; u < KU; ++u) {
        if (off[u] < 0) continue;
        bulk_copy::copy(k + u * kRow, kc + off[u], hd * sizeof(T), bar);
        bulk_copy::copy(v + u * kRow, vc + off[u], hd * sizeof(T), bar);
      }
    }
#else
    if (bytes != 0) __trap();  // the launcher asks for kv_bulk on sm_90+ devices only
#endif
    return bytes != 0;
  }

  // Waits for the copies issued last; the lane's HPL dims of position u into kf[u] and vf[u]
  // (zeros where off[u] < 0 and on inactive lanes).
  __device__ __forceinline__ void take(const int64_t (&off)[KU], bool active, int lane,
                                       float (&kf)[KU][HPL], float (&vf)[KU][HPL]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    bulk_copy::wait(bar, phase);
#endif
    phase ^= 1u;
    const T* v = k + KU * kRow;
#pragma unroll
    for (int u = 0; u < KU; ++u) {
#pragma unroll
      for (int i = 0; i < HPL; ++i) kf[u][i] = vf[u][i] = 0.0f;
      if (off[u] < 0 || !active) continue;
      load_dims<T, HPL>(k + u * kRow + lane * HPL, kf[u]);
      load_dims<T, HPL>(v + u * kRow + lane * HPL, vf[u]);
    }
    __syncwarp();  // every lane has read the staging before lane 0 refills it
    refill = true;
  }

};

// Initializes the W warps' barriers (one thread; a __syncthreads must follow before any issue).
__device__ __forceinline__ void init_barriers(uint64_t* bars, int w) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  for (int i = 0; i < w; ++i) bulk_copy::init(&bars[i], 1);
  bulk_copy::fence_init();
#else
  (void)bars;
  (void)w;
  __trap();
#endif
}

}  // namespace mlxm::engine::cuda::attn_kv_bulk
