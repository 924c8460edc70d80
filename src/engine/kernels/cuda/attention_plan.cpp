#include "engine/kernels/cuda/attention_plan.h"

#include <algorithm>

#include "engine/kernels/cuda/cuda_ops.h"

namespace mlxm::engine::cuda {

int paged_attention_decode_splits(int64_t n_seqs, int n_kv_heads, int head_dim, int64_t max_ctx,
                                  int sm_count, int warps) {
  const int64_t blocks = std::max<int64_t>(1, n_seqs * std::max(1, n_kv_heads));
  const int64_t round = detail::decode_attn_positions_per_round(head_dim) *
                        detail::decode_attn_split_warps(head_dim, warps) /
                        detail::kDecodeAttnWarps;
  // Splits that make the blocks fill two waves over the SMs; at most one per round of the table.
  const int64_t two_waves = (2 * int64_t{std::max(1, sm_count)} + blocks - 1) / blocks;
  const int64_t rounds = (std::max<int64_t>(0, max_ctx) + round - 1) / round;
  return static_cast<int>(
      std::clamp<int64_t>(std::min(two_waves, rounds), 1, detail::kDecodeAttnMaxSplits));
}

}  // namespace mlxm::engine::cuda
