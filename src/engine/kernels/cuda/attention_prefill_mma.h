// Internal to kernels/cuda: the tensor-core prefill attention (attention_prefill_mma.cu) behind
// paged_attention_prefill (attention_prefill.cu), which checks the arguments and dispatches.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "engine/kernels/cuda/cuda_runtime_api.h"
#include "engine/kernels/cpu/ops.h"  // KvLayerView

namespace mlxm::engine::cuda::detail {

// Raises the kernels' shared-memory limits (every type and head_dim).
Status prefill_mma_prepare();

// paged_attention_prefill's arguments, already checked (paged_attention_prefill_tc_supported).
Status launch_prefill_mma(const float* q, const int32_t* block_tables, int max_blocks,
                          const int32_t* context_lens, const int32_t* tiles, int64_t n_tiles,
                          int n_heads, const KvLayerView& kv, float scale, float* out,
                          Stream stream);

}  // namespace mlxm::engine::cuda::detail
