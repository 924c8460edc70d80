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

// The decode attention without a split merge (AttnSplit::whole, attention_decode_whole.cu): one
// block of up to 192 KB of shared memory per (sequence, query head), holding the block table
// (at most kDecodeAttnWholeMaxBlocks entries). It can run where those blocks fit one wave
// (n_seqs·n_heads <= sm_count) and the bulk copies can take whole rows (head_dim a multiple of
// 8, 40..128).
inline constexpr int kDecodeAttnWholeMaxBlocks = 1024;
constexpr bool decode_attn_whole_fits(int64_t n_seqs, int n_heads, int head_dim,
                                      int64_t max_blocks, int sm_count) {
  return n_seqs >= 1 && n_seqs * n_heads <= sm_count && head_dim % 8 == 0 && head_dim > 32 &&
         head_dim <= 128 && max_blocks >= 1 && max_blocks <= kDecodeAttnWholeMaxBlocks;
}

// Whether it pays for a step whose longest context is max_ctx positions: each warp's rounds are
// a chain, so long contexts keep the splits. Measured (bench/NOTES.md run 127, batch 1 on the
// H200): +14.5 % (3B) at 190 positions, +1.1 % (3B) / +2.4 % (8B) at 576, −13 % / −10 % at
// 1,964, i.e. even near 650.
inline constexpr int64_t kDecodeAttnWholeMaxCtx = 640;
constexpr bool decode_attn_whole_pays(int64_t max_ctx, int parts = 1) {
  return max_ctx <= kDecodeAttnWholeMaxCtx * parts;
}

// Blocks per (sequence, query head) of that kernel (AttnSplit::whole_parts): 2, a cluster pair
// that halves each warp's chain of rounds, where both blocks of every head fit one wave and the
// longest context is above kDecodeAttnWholePairMinCtx positions; else 1.
inline constexpr int64_t kDecodeAttnWholePairMinCtx = 256;
constexpr int decode_attn_whole_parts(int64_t n_seqs, int n_heads, int64_t max_ctx,
                                      int sm_count) {
  return 2 * n_seqs * n_heads <= sm_count && max_ctx > kDecodeAttnWholePairMinCtx ? 2 : 1;
}

}  // namespace mlxm::engine::cuda::detail
