// Plain single-threaded reference versions of the CPU ops (same signatures as
// kernels/cpu/ops.h; the pool is ignored), written straight from the formulas with double
// accumulation: the numerics oracle the engine uses when EngineOptions::reference is set.
// Thread-compatible.
#pragma once

#include "engine/kernels/cpu/ops.h"

namespace mlxm::engine::reference {

void rms_norm(const float* x, const float* weight, float eps, int64_t n, int64_t dim, float* y,
              ThreadPool& pool);
void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
          const float* inv_freq, ThreadPool& pool);
void silu_mul(const float* gate_up, int64_t n, int64_t ff, float* out, ThreadPool& pool);
void kv_store(const KvLayerView& kv, const float* k, const float* v, const int32_t* slot_mapping,
              int64_t n_tokens, ThreadPool& pool);
void paged_attention(const float* q, const AttnQuery* queries, int64_t n_tokens, int n_heads,
                     const KvLayerView& kv, float scale, float* out, ThreadPool& pool);

}  // namespace mlxm::engine::reference
