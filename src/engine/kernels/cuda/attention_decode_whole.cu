// AttnSplit::whole's launch (attention_decode_whole.cuh): one block per (sequence, query head)
// here; blocks per (sequence, kv head) for groups of 2-4 query heads (AttnSplit::whole_grouped)
// in attention_decode_whole_grouped.cu, their own unit so that the two compile side by side.
#include "engine/kernels/cuda/attention_decode_whole.cuh"

namespace mlxm::engine::cuda::detail {

Status launch_decode_whole_grouped(const float* q, const int32_t* tables, int max_blocks,
                                   const int32_t* ctx, int64_t n_seqs, int n_heads,
                                   const KvLayerView& kv, float scale, float* out,
                                   const XTarget& oq, const KvTensorMaps* maps, int parts,
                                   cudaStream_t stream);

Status launch_decode_whole(const float* q, const int32_t* tables, int max_blocks,
                           const int32_t* ctx, int64_t n_seqs, int n_heads, const KvLayerView& kv,
                           float scale, float* out, const XTarget& oq,
                           const KvTensorMaps* maps, int parts, bool grouped,
                           cudaStream_t stream) {
  if (grouped) {
    return launch_decode_whole_grouped(q, tables, max_blocks, ctx, n_seqs, n_heads, kv, scale,
                                       out, oq, maps, parts, stream);
  }
  return whole_attn::launch_whole<1>(q, tables, max_blocks, ctx, n_seqs, n_heads, kv, scale, out,
                                     oq, maps, parts, stream);
}

}  // namespace mlxm::engine::cuda::detail

MLXM_CHAIN_DUMP_UNIT(attention_decode_whole)  // this unit's kernel-chain rings (timeline.cuh)
