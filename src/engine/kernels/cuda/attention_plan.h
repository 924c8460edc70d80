// Internal to kernels/cuda, host only (no CUDA include): the shape of the split-KV decode
// attention (ops.cu paged_decode_kernel) that paged_attention_decode_splits (cuda_ops.h,
// attention_plan.cpp) plans with, so that the choice, measured on the H200 (bench/NOTES.md,
// runs 33-38), is tested on any machine (tests/engine/kernels/cuda/attention_plan_test.cpp).
#pragma once

#include <cstdint>

namespace mlxm::engine::cuda::detail {

inline constexpr int kDecodeAttnWarps = 4;      // warps per block of the decode kernel
inline constexpr int kDecodeAttnWideWarps = 8;  // split launches up to head_dim 128 may take
inline constexpr int kDecodeAttnMaxSplits = 64;

// Warps per block of a split launch asked for `warps` (AttnSplit::warps): 8 only up to head_dim
// 128 (wider heads would pass 48 KB of shared memory), else 4. Planner and launcher both use it.
constexpr int decode_attn_split_warps(int head_dim, int warps) {
  return warps == kDecodeAttnWideWarps && head_dim <= 128 ? kDecodeAttnWideWarps
                                                          : kDecodeAttnWarps;
}

// Consecutive positions one warp loads per round (all K/V loads in flight, then the math):
// 8, or 2 above head_dim 128 (a lane then holds 8 dims of K and V per position).
constexpr int decode_attn_positions_per_warp(int head_dim) { return head_dim > 128 ? 2 : 8; }

// Positions one block reads per round: a split of at most this many costs one memory round trip.
constexpr int decode_attn_positions_per_round(int head_dim) {
  return kDecodeAttnWarps * decode_attn_positions_per_warp(head_dim);
}

}  // namespace mlxm::engine::cuda::detail
