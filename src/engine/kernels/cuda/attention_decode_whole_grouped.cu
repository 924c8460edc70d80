// AttnSplit::whole_grouped's launch (attention_decode_whole.cuh): one block per (sequence, kv
// head) for its 2, 3 or 4 query heads (detail::decode_attn_whole_group_ok, attention_plan.h).
#include <string>

#include "engine/kernels/cuda/attention_decode_whole.cuh"

namespace mlxm::engine::cuda::detail {

Status launch_decode_whole_grouped(const float* q, const int32_t* tables, int max_blocks,
                                   const int32_t* ctx, int64_t n_seqs, int n_heads,
                                   const KvLayerView& kv, float scale, float* out,
                                   const XTarget& oq, const KvTensorMaps* maps, int parts,
                                   cudaStream_t stream) {
  const int group = n_heads / kv.n_kv_heads;
  switch (group) {
    case 2:
      return whole_attn::launch_whole<2>(q, tables, max_blocks, ctx, n_seqs, n_heads, kv, scale,
                                         out, oq, maps, parts, stream);
    case 3:
      return whole_attn::launch_whole<3>(q, tables, max_blocks, ctx, n_seqs, n_heads, kv, scale,
                                         out, oq, maps, parts, stream);
    case 4:
      return whole_attn::launch_whole<4>(q, tables, max_blocks, ctx, n_seqs, n_heads, kv, scale,
                                         out, oq, maps, parts, stream);
    default:
      return invalid_argument("paged_attention_decode (whole, grouped): " +
                              std::to_string(group) + " query heads per kv head (want 2-4)");
  }
}

}  // namespace mlxm::engine::cuda::detail

MLXM_CHAIN_DUMP_UNIT(attention_decode_whole_grouped)  // this unit's kernel-chain rings
