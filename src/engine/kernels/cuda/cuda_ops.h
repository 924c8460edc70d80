// Elementwise and attention kernels of the CUDA backend, the device twins of
// engine/kernels/cpu/ops.h (same semantics, f32 activations, device pointers). CUDA-free header.
// Every function validates its arguments (invalid_argument) and checks the launch.
// Thread-safety: stateless; calls on different streams may run concurrently.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "engine/kernels/cpu/ops.h"  // KvLayerView
#include "engine/kernels/cuda/cuda_runtime_api.h"

namespace mlxm::engine::cuda {

// y (n, dim) = x / sqrt(mean(x²) + eps) * weight (dim). y may alias x.
Status rms_norm(const float* x, const float* weight, float eps, int64_t n, int64_t dim, float* y,
                Stream stream = nullptr);

// Rotary embedding, NeoX ("rotate_half") layout, in place: x (n_tokens, n_heads, head_dim),
// positions (n_tokens), inv_freq (head_dim/2, scaling already applied). head_dim even.
Status rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
            const float* inv_freq, Stream stream = nullptr);

// out (n, ff) = silu(gate) * up, gate_up (n, 2*ff) = [gate | up] per row.
Status silu_mul(const float* gate_up, int64_t n, int64_t ff, float* out, Stream stream = nullptr);

// Writes k, v (n_tokens, n_kv_heads, head_dim) into the paged cache `kv` (device pointers,
// F16/BF16/F32) at slot_mapping (n_tokens) = block * block_size + offset; a negative slot is
// skipped (padding), so is a slot past the cache (never written out of bounds).
Status kv_store(const KvLayerView& kv, const float* k, const float* v,
                const int32_t* slot_mapping, int64_t n_tokens, Stream stream = nullptr);

// x (n) += y (n), elementwise (residual adds).
Status add_inplace(float* x, const float* y, int64_t n, Stream stream = nullptr);

// dst (n, dim) = src rows rows[i] (device int32 (n), each in [0, n_src_rows): others give NaN
// rows, never a read out of bounds). dst must not alias src.
Status gather_rows(const float* src, int64_t n_src_rows, int64_t dim, const int32_t* rows,
                   int64_t n, float* dst, Stream stream = nullptr);

// Decode attention, one query token per sequence: out (n_seqs, n_heads, head_dim) =
// softmax(q·Kᵀ·scale)·V over positions [0, context_lens[s]) of sequence s, whose blocks are
// block_tables[s * max_blocks_per_seq + i]; grouped-query (head h reads kv head
// h / (n_heads / n_kv_heads)); softmax in f32. KV in F16 or BF16; head_dim up to 256 (a
// multiple of 2 above 32, of 4 above 64, of 8 above 128); at most 8 query heads per kv head.
// Prefill uses it too, one entry per query token with its own context length (causal). A block id outside [0, n_blocks) is never read: the
// sequence's output is NaN instead. A context length of 0 gives zeros.
// Split-KV (flash-decoding): `splits` blocks per (entry, kv head), each over a slice of
// ceil(max_blocks_per_seq·block_size / splits) positions, then a merge kernel. Needs
// paged_attention_workspace_floats(...) floats of device workspace; with less (or splits <= 1)
// the kernel runs unsplit. The result equals the unsplit one up to f32 rounding.
struct AttnSplit {
  int splits = 1;
  float* workspace = nullptr;
  size_t workspace_floats = 0;
};
size_t paged_attention_workspace_floats(int64_t n_seqs, int n_heads, int head_dim, int splits);
Status paged_attention_decode(const float* q, const int32_t* block_tables, int max_blocks_per_seq,
                              const int32_t* context_lens, int64_t n_seqs, int n_heads,
                              const KvLayerView& kv, float scale, float* out,
                              Stream stream = nullptr, const AttnSplit& split = {});

}  // namespace mlxm::engine::cuda
