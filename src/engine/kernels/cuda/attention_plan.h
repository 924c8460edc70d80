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
// block of 128 KB of rings per (sequence, query head), and after them the block table (at most
// kDecodeAttnWholeMaxBlocks entries, 32 KB: 131,072 positions at block size 16). It runs where
// those blocks fit two waves (n_seqs·n_heads <= 2·sm_count) and the bulk copies can take whole
// rows (head_dim a multiple of 8, 40..128). A second wave is safe: no block waits for another
// outside its cluster, and the engine picks clusters only where the blocks fit one wave
// (decode_attn_whole_parts). It beats the split kernel at 5-8 sequences (bench/NOTES.md run
// 162: 3B +11.6-14.5 % at 6-8, 8B +7.0-10.6 % at 5-8); one wave was the limit before.
// Grouped (AttnSplit::whole_grouped, decode_attn_whole_grouped): one block per kv head for its
// group of query heads; these run in up to four waves: 8B at 40 sequences +11.7 %, 64 +26.4 %,
// 3B at 64 +42.7 % against the split kernel, prompt 512 (run 174; a block per head was not
// measured past two).
inline constexpr int kDecodeAttnWholeMaxBlocks = 8192;
inline constexpr int kDecodeAttnWholeMaxWaves = 2;
inline constexpr int kDecodeAttnWholeGroupedMaxWaves = 4;

// Groups of query heads one block of that kernel takes for its kv head (AttnSplit::whole_grouped):
// the instantiations attention_decode_whole_grouped.cu has (3B: 3, 1B and 8B: 4).
constexpr bool decode_attn_whole_group_ok(int group) { return group >= 2 && group <= 4; }

// Blocks per sequence of that kernel: its query heads, or, grouped, its kv heads (0 where the
// heads do not form a group the grouped kernel takes).
constexpr int decode_attn_whole_units(int n_heads, int n_kv_heads, bool grouped) {
  if (!grouped) return n_heads;
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0 ||
      !decode_attn_whole_group_ok(n_heads / n_kv_heads)) {
    return 0;
  }
  return n_kv_heads;
}

constexpr bool decode_attn_whole_fits(int64_t n_seqs, int n_heads, int n_kv_heads, int head_dim,
                                      int64_t max_blocks, int sm_count, bool grouped = false) {
  const int units = decode_attn_whole_units(n_heads, n_kv_heads, grouped);
  const int waves = grouped ? kDecodeAttnWholeGroupedMaxWaves : kDecodeAttnWholeMaxWaves;
  return n_seqs >= 1 && units >= 1 && n_seqs * units <= waves * int64_t{sm_count} &&
         head_dim % 8 == 0 && head_dim > 32 &&
         head_dim <= 128 && max_blocks >= 1 && max_blocks <= kDecodeAttnWholeMaxBlocks;
}

// Whether it pays for a step whose longest context is max_ctx positions, with `parts` blocks per
// head (decode_attn_whole_parts) and `blocks` blocks in all (n_seqs · units · parts): each warp's
// rounds are a chain, so few blocks on long contexts keep the splits. Measured with one block
// per head (bench/NOTES.md run 127, batch 1 on the H200, 24-32 blocks): +14.5 % (3B) at 190
// positions, +1.1 % (3B) / +2.4 % (8B) at 576, −13 % / −10 % at 1,964, i.e. even near 650. A
// cluster of P blocks gives each warp 1/P of the rounds: P times the context (runs 133-134).
// From kDecodeAttnWholeBusyBlocks blocks on, it pays at any context its table holds: their
// chains overlap (runs 177-178, against the splits: 3B b1 at 4,096 positions +24.4 %, at 8,192
// +21.5 % (96 blocks); 3B b2 at 4,096 +47.4 % (64); 8B b8 +50.2 %; 8B b16 at 2,048 +43.9 %; 8B
// b64 at 2,048 +71.8 %; 3B b16 at 8,192 +136 %).
// per_part: the positions one block pays for (MLXM_CUDA_ATTN_WHOLE_MAX_CTX, for measuring).
inline constexpr int64_t kDecodeAttnWholeMaxCtx = 640;
inline constexpr int64_t kDecodeAttnWholeBusyBlocks = 64;
constexpr bool decode_attn_whole_pays(int64_t max_ctx, int parts = 1, int64_t blocks = 0,
                                      int64_t per_part = kDecodeAttnWholeMaxCtx) {
  return blocks >= kDecodeAttnWholeBusyBlocks || max_ctx <= per_part * parts;
}

// Whether a step of n_seqs sequences takes the grouped blocks (mode: 0 never, 1 wherever the group
// allows, else auto): in auto, from kDecodeAttnGroupedMinSeqs sequences. Each kv head's K/V then
// crosses the SM once instead of G times; at one sequence the G times more blocks per head win
// (bench/NOTES.md run 171: 3B +1.7 % at 2 sequences to +31.3 % at 16, -0.9 % at 1; 8B +1.8 %
// at 4 to +17.9 % at 16, -2.1 % at 1).
inline constexpr int64_t kDecodeAttnGroupedMinSeqs = 2;
constexpr bool decode_attn_whole_grouped(int64_t n_seqs, int n_heads, int n_kv_heads,
                                         int mode = -1) {
  if (mode == 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 ||
      !decode_attn_whole_group_ok(n_heads / n_kv_heads)) {
    return false;
  }
  return mode == 1 || n_seqs >= kDecodeAttnGroupedMinSeqs;
}

// Blocks per (sequence, query head) of that kernel (AttnSplit::whole_parts; units: such heads
// per sequence, or kv heads where a block takes a group), at most max_parts,
// where the longest context is above min_ctx positions (else 1): a cluster of P = 2, 3 or 4
// that cuts each warp's chain of rounds to 1/P.
// - the most P whose blocks take at most 3/4 of the SMs, where it pays for the context
//   (decode_attn_whole_pays);
// - else the fewest P whose blocks fit one wave and pay for the context;
// - else 1 (and the context keeps the splits where one block does not pay either).
// Measured (bench/NOTES.md run 134, H200, batch 1): 3B (96 blocks of 4) 941.6 / 1,000.1 /
// 1,011.8 tok/s with 1 / 2 / 4 at 576 positions; 8B (128 blocks of 4) 608.0 / 628.2 / 609.9;
// at 1,964 positions 8B 519.4 (splits) / 539.7 (4).
inline constexpr int64_t kDecodeAttnWholePairMinCtx = 256;
constexpr int decode_attn_whole_parts(int64_t n_seqs, int units, int64_t max_ctx, int sm_count,
                                      int max_parts = 4,
                                      int64_t min_ctx = kDecodeAttnWholePairMinCtx,
                                      int64_t per_part = kDecodeAttnWholeMaxCtx) {
  if (max_ctx <= min_ctx) return 1;
  const int64_t blocks = n_seqs * units;
  for (int p = max_parts; p >= 2; --p) {
    if (4 * p * blocks <= 3 * int64_t{sm_count}) {
      if (decode_attn_whole_pays(max_ctx, p, p * blocks, per_part)) return p;
      break;
    }
  }
  for (int p = 2; p <= max_parts; ++p) {
    if (p * blocks <= sm_count && decode_attn_whole_pays(max_ctx, p, p * blocks, per_part)) {
      return p;
    }
  }
  return 1;
}

}  // namespace mlxm::engine::cuda::detail
