// Elementwise and attention kernels of the CPU backend. All pointers are f32 row-major unless
// stated. Every op has a fast path (vectorised, threaded) and is tested against a plain
// reference in tests/engine/kernels/cpu.
#pragma once

#include <cstdint>
#include <span>

#include "engine/kernels/cpu/thread_pool.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine {

// y (n, dim) = x / sqrt(mean(x²) + eps) * weight (dim). y may alias x.
void rms_norm(const float* x, const float* weight, float eps, int64_t n, int64_t dim, float* y,
              ThreadPool& pool);

// Rotary embedding, HF "rotate_half" (NeoX) layout, in place:
// x (n_tokens, n_heads, head_dim); positions (n_tokens); inv_freq (head_dim/2) — already
// includes any rope scaling (llama3, linear), computed by the model from its config.
void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
          const float* inv_freq, ThreadPool& pool);

// out (n, ff) = silu(gate) * up, with gate_up (n, 2*ff) = [gate | up] per row.
void silu_mul(const float* gate_up, int64_t n, int64_t ff, float* out, ThreadPool& pool);

// Paged KV storage of one layer: blocks of `block_size` token slots; slot s of block b holds
// k and v of one token: (n_kv_heads, head_dim) each, in `dtype` (F16, BF16 or F32).
struct KvLayerView {
  void* k = nullptr;  // (n_blocks, block_size, n_kv_heads, head_dim)
  void* v = nullptr;  // (n_blocks, block_size, n_kv_heads, head_dim)
  DType dtype = DType::kF16;
  int block_size = 16;
  int n_kv_heads = 0;
  int head_dim = 0;
  int64_t n_blocks = 0;
};

// Writes k, v (n_tokens, n_kv_heads, head_dim) of new tokens into their slots:
// slot_mapping (n_tokens) = block_id * block_size + offset.
void kv_store(const KvLayerView& kv, const float* k, const float* v, const int32_t* slot_mapping,
              int64_t n_tokens, ThreadPool& pool);

// One attention query token: which sequence's blocks it reads and how many positions.
struct AttnQuery {
  const int32_t* block_table = nullptr;  // (ceil(n_ctx / block_size)) block ids of its sequence
  int32_t n_ctx = 0;  // attends to positions [0, n_ctx) of its sequence (causal: position + 1)
};

// out (n_tokens, n_heads, head_dim) = softmax(q·Kᵀ * scale) · V per head, grouped-query
// (head h reads kv head h / (n_heads / n_kv_heads)), over the paged KV; softmax in f32.
void paged_attention(const float* q, const AttnQuery* queries, int64_t n_tokens, int n_heads,
                     const KvLayerView& kv, float scale, float* out, ThreadPool& pool);

}  // namespace mlxm::engine
