// The split-KV decode attention's split choice (cuda_ops.h paged_attention_decode_splits,
// attention_plan.h), without a GPU: the choices measured on the H200 (bench/NOTES.md, runs
// 33-38) for Llama 3.x shapes on 132 SMs, and the bounds for every shape.
#include <gtest/gtest.h>

#include <cstdint>

#include "engine/kernels/cuda/attention_plan.h"
#include "engine/kernels/cuda/cuda_ops.h"

namespace mlxm::engine::cuda {
namespace {

constexpr int kH200Sms = 132;

int splits(int64_t n_seqs, int64_t max_ctx, int n_kv_heads = 8, int head_dim = 128) {
  return paged_attention_decode_splits(n_seqs, n_kv_heads, head_dim, max_ctx, kH200Sms);
}

TEST(AttentionPlanTest, RoundOfTheDecodeKernel) {
  EXPECT_EQ(detail::decode_attn_positions_per_round(64), 32);
  EXPECT_EQ(detail::decode_attn_positions_per_round(128), 32);
  EXPECT_EQ(detail::decode_attn_positions_per_round(256), 8);
}

TEST(AttentionPlanTest, WholeContextKernelFits) {
  // One block per (sequence, query head) in at most two waves: 3B (24 heads) up to 11
  // sequences, 8B (32) up to 8, on 132 SMs; tables (in blocks) up to what the kernel holds.
  EXPECT_TRUE(detail::decode_attn_whole_fits(1, 24, 8, 128, 64, kH200Sms));
  EXPECT_TRUE(detail::decode_attn_whole_fits(6, 24, 8, 128, 64, kH200Sms));
  EXPECT_TRUE(detail::decode_attn_whole_fits(11, 24, 8, 128, 64, kH200Sms));
  EXPECT_FALSE(detail::decode_attn_whole_fits(12, 24, 8, 128, 64, kH200Sms));
  EXPECT_TRUE(detail::decode_attn_whole_fits(8, 32, 8, 128, 64, kH200Sms));
  EXPECT_FALSE(detail::decode_attn_whole_fits(9, 32, 8, 128, 64, kH200Sms));
  EXPECT_FALSE(detail::decode_attn_whole_fits(0, 32, 8, 128, 64, kH200Sms));
  EXPECT_TRUE(detail::decode_attn_whole_fits(1, 24, 8, 128, detail::kDecodeAttnWholeMaxBlocks,
                                             kH200Sms));
  EXPECT_FALSE(detail::decode_attn_whole_fits(1, 24, 8, 128,
                                              detail::kDecodeAttnWholeMaxBlocks + 1,
                                              kH200Sms));
  // Head sizes the bulk rows or the warp's lanes cannot take keep the splits.
  EXPECT_TRUE(detail::decode_attn_whole_fits(1, 8, 8, 64, 19, kH200Sms));
  EXPECT_TRUE(detail::decode_attn_whole_fits(1, 6, 2, 80, 19, kH200Sms));
  EXPECT_FALSE(detail::decode_attn_whole_fits(1, 4, 4, 32, 19, kH200Sms));
  EXPECT_FALSE(detail::decode_attn_whole_fits(1, 4, 4, 256, 19, kH200Sms));
  EXPECT_FALSE(detail::decode_attn_whole_fits(1, 4, 4, 100, 19, kH200Sms));
}

TEST(AttentionPlanTest, WholeContextKernelPaysOnShortContexts) {
  // Run 127 (batch 1): +14.5 % at 190 positions, +1.1-2.4 % at 576, -10-13 % at 1,964.
  EXPECT_TRUE(detail::decode_attn_whole_pays(190));
  EXPECT_TRUE(detail::decode_attn_whole_pays(576));
  EXPECT_TRUE(detail::decode_attn_whole_pays(detail::kDecodeAttnWholeMaxCtx));
  EXPECT_FALSE(detail::decode_attn_whole_pays(detail::kDecodeAttnWholeMaxCtx + 1));
  EXPECT_FALSE(detail::decode_attn_whole_pays(1964));
  // As clusters of P blocks each warp walks 1/P of the rounds: P times the context.
  EXPECT_TRUE(detail::decode_attn_whole_pays(2 * detail::kDecodeAttnWholeMaxCtx, 2));
  // A measured bound per block (MLXM_CUDA_ATTN_WHOLE_MAX_CTX) moves the limit, clusters too.
  EXPECT_TRUE(detail::decode_attn_whole_pays(2048, 1, 0, 2048));
  EXPECT_FALSE(detail::decode_attn_whole_pays(2049, 1, 0, 2048));
  EXPECT_TRUE(detail::decode_attn_whole_pays(4096, 2, 0, 2048));
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 32, 4000, kH200Sms, 4, 256, 2048), 3);
  EXPECT_FALSE(detail::decode_attn_whole_pays(2 * detail::kDecodeAttnWholeMaxCtx + 1, 2));
  EXPECT_TRUE(detail::decode_attn_whole_pays(1964, 4));
  // With 64 blocks or more it pays at any context (run 178: 64-96 blocks at 4,096 and 8,192
  // positions beat the splits by 21-69 %).
  EXPECT_TRUE(detail::decode_attn_whole_pays(8192, 4, 96));
  EXPECT_TRUE(detail::decode_attn_whole_pays(4096, 4, detail::kDecodeAttnWholeBusyBlocks));
  EXPECT_FALSE(detail::decode_attn_whole_pays(4096, 4, detail::kDecodeAttnWholeBusyBlocks - 1));
  EXPECT_TRUE(detail::decode_attn_whole_pays(16384, 1, 512));
}

TEST(AttentionPlanTest, WholeContextClustersWhereTheirBlocksFitAndTheContextIsLong) {
  // 3B (24 heads) and 8B (32) at batch 1: clusters of 4 are 96 and 128 blocks, so 3B takes 4
  // and 8B 3 (96 blocks; run 134: 4 lose at 8B); at 190 positions one block per head.
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 24, 576, kH200Sms), 4);
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 32, 576, kH200Sms), 3);
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 32, 1064, kH200Sms), 3);
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 32, 1964, kH200Sms), 3);  // 96 blocks pay
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 24, 1964, kH200Sms), 4);
  // Long contexts: the most parts within 3/4 of the SMs, as these are 64 blocks or more;
  // with fewer blocks, past what any cluster pays for, 1 (the splits).
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 32, 4000, kH200Sms), 3);
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 24, 8192, kH200Sms), 4);
  EXPECT_EQ(detail::decode_attn_whole_parts(2, 8, 4096, kH200Sms), 4);
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 8, 4000, kH200Sms), 1);
  // A lower threshold (MLXM_CUDA_ATTN_PARTS_MIN_CTX).
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 24, 190, kH200Sms, 4, 64), 4);
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 24, 190, kH200Sms), 1);
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 24, detail::kDecodeAttnWholePairMinCtx, kH200Sms),
            1);
  // At most max_parts (MLXM_CUDA_ATTN_PARTS).
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 24, 576, kH200Sms, 2), 2);
  EXPECT_EQ(detail::decode_attn_whole_parts(1, 24, 576, kH200Sms, 1), 1);
  // 3B batch 2: pairs (96 blocks) take 3/4 of the SMs; batch 3 (144) passes them.
  EXPECT_EQ(detail::decode_attn_whole_parts(2, 24, 576, kH200Sms), 2);
  EXPECT_EQ(detail::decode_attn_whole_parts(3, 24, 576, kH200Sms), 1);
  // Past one wave (3B from 6 sequences, two waves since run 162): single blocks, no clusters.
  EXPECT_EQ(detail::decode_attn_whole_parts(6, 24, 576, kH200Sms), 1);
  EXPECT_EQ(detail::decode_attn_whole_parts(8, 32, 576, kH200Sms), 1);
}

TEST(AttentionPlanTest, WholeGroupedBlocks) {
  // Groups of 2-4 query heads per kv head have an instantiation; 1 and 8 keep a block per head.
  EXPECT_FALSE(detail::decode_attn_whole_group_ok(1));
  EXPECT_TRUE(detail::decode_attn_whole_group_ok(2));
  EXPECT_TRUE(detail::decode_attn_whole_group_ok(3));
  EXPECT_TRUE(detail::decode_attn_whole_group_ok(4));
  EXPECT_FALSE(detail::decode_attn_whole_group_ok(8));
  // Auto: from two sequences on.
  EXPECT_FALSE(detail::decode_attn_whole_grouped(1, 24, 8));
  EXPECT_TRUE(detail::decode_attn_whole_grouped(2, 24, 8));
  EXPECT_FALSE(detail::decode_attn_whole_grouped(1, 32, 8));
  EXPECT_TRUE(detail::decode_attn_whole_grouped(16, 32, 8));
  EXPECT_FALSE(detail::decode_attn_whole_grouped(64, 32, 4));  // group 8
  EXPECT_FALSE(detail::decode_attn_whole_grouped(64, 8, 8));   // no group
  EXPECT_FALSE(detail::decode_attn_whole_grouped(64, 30, 7));  // not a group
  EXPECT_FALSE(detail::decode_attn_whole_grouped(64, 32, 0));  // no kv heads
  // Forced either way (MLXM_CUDA_ATTN_GROUPED).
  EXPECT_TRUE(detail::decode_attn_whole_grouped(1, 24, 8, 1));
  EXPECT_FALSE(detail::decode_attn_whole_grouped(64, 24, 8, 0));
  // Their blocks count for the fit, in up to four waves: 8B's 8 kv heads up to 66 sequences.
  EXPECT_TRUE(detail::decode_attn_whole_fits(66, 32, 8, 128, 64, kH200Sms, true));
  EXPECT_FALSE(detail::decode_attn_whole_fits(67, 32, 8, 128, 64, kH200Sms, true));
  EXPECT_FALSE(detail::decode_attn_whole_fits(9, 32, 8, 128, 64, kH200Sms));  // a block per head
  // The blocks per sequence follow from the heads: none where they form no group it takes.
  EXPECT_EQ(detail::decode_attn_whole_units(24, 8, true), 8);
  EXPECT_EQ(detail::decode_attn_whole_units(24, 8, false), 24);
  EXPECT_EQ(detail::decode_attn_whole_units(32, 4, true), 0);  // group 8
  EXPECT_EQ(detail::decode_attn_whole_units(30, 7, true), 0);  // not a group
  EXPECT_EQ(detail::decode_attn_whole_units(8, 0, true), 0);   // no kv heads
  EXPECT_FALSE(detail::decode_attn_whole_fits(1, 32, 4, 128, 64, kH200Sms, true));
  EXPECT_TRUE(detail::decode_attn_whole_fits(1, 32, 4, 128, 64, kH200Sms));
  // And for the clusters: 3B at 4 sequences, 32 blocks of 3 heads, 3 per cluster at 576.
  EXPECT_EQ(detail::decode_attn_whole_parts(4, 8, 576, kH200Sms), 3);
}

TEST(AttentionPlanTest, MeasuredLlamaChoices) {
  // 3B / 8B at batch 1 with a 512-token prompt: tables of 33 blocks of 16 = 528 positions,
  // 17 splits of 32 positions (one round each), 136 blocks.
  EXPECT_EQ(splits(1, 528), 17);
  EXPECT_EQ(splits(1, 1024), 32);   // a table rounded up to 64 blocks
  EXPECT_EQ(splits(1, 4096), 33);   // two waves: 8 kv heads x 33 splits = 264 blocks
  // 64 sequences: 512 blocks already fill two waves, so no split (no merge kernel).
  EXPECT_EQ(splits(64, 128), 1);
  EXPECT_EQ(splits(16, 128), 3);    // 128 blocks: 3 splits, capped by 4 rounds
  EXPECT_EQ(splits(8, 64), 2);      // short tables cap it
}

TEST(AttentionPlanTest, EightWarpsHalveTheSplits) {
  // Rounds of 64 positions: 3B / 8B at batch 1 and a 1024-position table, 16 splits (one
  // merge round); head_dim 256 keeps 4 warps.
  EXPECT_EQ(paged_attention_decode_splits(1, 8, 128, 1024, kH200Sms, 8), 16);
  EXPECT_EQ(paged_attention_decode_splits(1, 8, 128, 528, kH200Sms, 8), 9);
  EXPECT_EQ(paged_attention_decode_splits(1, 8, 256, 528, kH200Sms, 8),
            paged_attention_decode_splits(1, 8, 256, 528, kH200Sms));
  // The launcher's choice, the same rule.
  EXPECT_EQ(detail::decode_attn_split_warps(128, 8), 8);
  EXPECT_EQ(detail::decode_attn_split_warps(64, 8), 8);
  EXPECT_EQ(detail::decode_attn_split_warps(256, 8), 4);
  EXPECT_EQ(detail::decode_attn_split_warps(128, 4), 4);
  EXPECT_EQ(detail::decode_attn_split_warps(128, 6), 4);
}

TEST(AttentionPlanTest, BoundsForEveryShape) {
  for (int64_t n : {1, 2, 3, 8, 33, 64, 256}) {
    for (int kv : {1, 2, 8}) {
      for (int hd : {16, 64, 128, 256}) {
        for (int64_t ctx : {0, 1, 31, 32, 33, 528, 100000}) {
          const int s = splits(n, ctx, kv, hd);
          ASSERT_GE(s, 1);
          ASSERT_LE(s, detail::kDecodeAttnMaxSplits);
          const int64_t round = detail::decode_attn_positions_per_round(hd);
          if (s == 1) continue;
          // Splits no shorter than a round on average: at most one per round of the table.
          ASSERT_LE(s, (ctx + round - 1) / round) << n << " " << ctx;
          // No more blocks than two waves need, beyond one split.
          ASSERT_LT(n * kv * (s - 1), 2 * kH200Sms) << n << " " << kv << " " << ctx;
        }
      }
    }
  }
  // Nonsense inputs stay in bounds: no sequences or heads count as one block, no SMs as one.
  EXPECT_EQ(paged_attention_decode_splits(0, 0, 128, 528, 0), 2);
  EXPECT_EQ(paged_attention_decode_splits(1, 8, 128, -5, 132), 1);
}

}  // namespace
}  // namespace mlxm::engine::cuda
