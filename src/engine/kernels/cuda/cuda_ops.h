// Elementwise and attention kernels of the CUDA backend, the device twins of
// engine/kernels/cpu/ops.h (same semantics, f32 activations, device pointers). CUDA-free header.
// Every function validates its arguments (invalid_argument) and checks the launch.
// Thread-safety: stateless; calls on different streams may run concurrently.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "engine/kernels/cpu/ops.h"  // KvLayerView
#include "engine/kernels/cuda/cuda_runtime_api.h"
#include "engine/kernels/cuda/split_k.h"

namespace mlxm::engine::cuda {

// Where a producer kernel also writes its output rows in the form the next linear's kernel
// reads, so that the linear needs no launch of its own to make it. Two forms:
// - the int8 GEMV's (gemm false): that linear's ForwardOptions::gemv_scratch and weight bits
//   (4 or 8), read with ForwardOptions::gemv_x_ready. Rows ≤ 8 of gemv_i8_target_supported
//   widths. Producers: add_rms_norm, silu_mul, the decode attention (AttnSplit::out_q).
// - the batched-decode GEMM's (gemm true): ForwardOptions::gemm_x, read with gemm_x_ready;
//   rows ≤ 64 of a multiple of 64 values, rounded to f16 (f16) or bf16 in the GEMM's K order
//   (gemm_x.cuh). Producers: add_rms_norm, silu_mul.
struct XTarget {
  void* scratch = nullptr;  // null: none
  int bits = 4;
  bool gemm = false;
  bool f16 = false;
};
// Whether a producer can quantize rows of `dim` values (a multiple of 32, ≤ 16384).
bool gemv_i8_target_supported(int64_t dim);

// y (n, dim) = x / sqrt(mean(x²) + eps) * weight (dim). y may alias x.
Status rms_norm(const float* x, const float* weight, float eps, int64_t n, int64_t dim, float* y,
                Stream stream = nullptr);

// Rotary embedding, NeoX ("rotate_half") layout, in place: x (n_tokens, n_heads, head_dim),
// positions (n_tokens), inv_freq (head_dim/2, scaling already applied). head_dim even.
Status rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
            const float* inv_freq, Stream stream = nullptr);

// out (n, ff) = silu(gate) * up, gate_up (n, 2*ff) = [gate | up] per row.
// `q`: also the rows in the next linear's form (see XTarget; gate_up and out 16-byte
// aligned).
// `in`: gate_up is read as split-K slices (split_k.h).
Status silu_mul(const float* gate_up, int64_t n, int64_t ff, float* out, Stream stream = nullptr,
                const XTarget& q = {}, const Slices& in = {});

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

// A CUtensorMap's 128 bytes (cuda.h's type, kept out of this CUDA-free header).
struct alignas(128) TensorMapBytes {
  unsigned long long opaque[16];
};
// 2-D tensor maps of a layer's K and V caches for the decode attention's K/V rounds: rows of
// n_kv_heads·head_dim elements, one per cache position, and boxes of head_dim × 8 positions
// (one head's 8 consecutive positions of a page in one copy).
struct KvTensorMaps {
  TensorMapBytes k, v;
};
// Encodes them (cuTensorMapEncodeTiled, looked up through the runtime). kUnimplemented when the
// driver has none or the cache cannot take them (F16/BF16, head_dim 64 or 128, block_size a
// multiple of 8, fewer than 2^31 positions, 16-byte aligned caches); kInvalidArgument when the
// driver rejects them. The maps hold the cache addresses: remake them if the cache moves.
Status make_kv_tensor_maps(const KvLayerView& kv, KvTensorMaps* maps);

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
  // With scratch set: the merge also writes the rows (n_seqs, n_heads·head_dim) quantized for
  // the int8 GEMV of the output projection (XTarget's int8 form only). Needs a merge (splits >
  // 1 and the workspace for them), n_seqs <= 8 and head_dim % 32 == 0; else kInvalidArgument.
  XTarget out_q;
  // Zeroed device ints, at least n_seqs·n_kv_heads (else kInvalidArgument): with splits > 1,
  // head_dim % 4 == 0 and a 16-byte aligned workspace and output, the decode kernel's block
  // that finishes a (sequence, kv head) last merges its splits (and writes out_q) itself and
  // sets the counter back to 0, so no merge kernel runs. Null: the merge kernel. One per stream.
  int* merge_counters = nullptr;
  int64_t merge_counters_len = 0;
  // Before the step's inputs are ready (PDL), each warp prefetches the K/V lines of its first
  // round into L2 from the context lengths and block tables as they read then: a hint (the
  // kernel reads everything again after the wait). The step's own position, which the qkv
  // kernel may be writing meanwhile, can be among them: L2 is where writes land, so that line
  // is only fetched early, never read stale.
  bool prefetch_kv = false;
  // Each warp's round of K/V rows (kU positions, head_dim elements each) brought into shared
  // memory by bulk copies that one lane issues, instead of every lane loading its dims of each
  // (attn_kv_bulk.cuh). Taken where the device is sm_90+, head_dim a multiple of 8 and the
  // caches 16-byte aligned; elsewhere ignored. Results are the same.
  bool kv_bulk = false;
  // Warps per block of a split launch (splits > 1) up to head_dim 128: 4, or 8 (rounds of 64
  // positions; plan the splits with the same count, paged_attention_decode_splits).
  int warps = 4;
  // Without a split merge (attention_decode_whole.cu): one block of 16 warps per (sequence,
  // query head) reads the whole context through bulk-copied rounds, so no partials and no
  // merge; out_q works without splits. Taken on sm_90+ devices where
  // detail::decode_attn_whole_fits (attention_plan.h) holds and the caches and output are
  // 16-byte aligned; elsewhere ignored. Same math, the sums in another order. It pays on short
  // contexts only (detail::decode_attn_whole_pays): the caller's choice.
  bool whole = false;
  // With whole: each warp's round of 8 positions as two tensor copies (K and V boxes of
  // make_kv_tensor_maps, host memory read at launch) instead of 16 row copies. Null: row copies.
  const KvTensorMaps* kv_maps = nullptr;
  // With whole: 2 to 4 blocks per (sequence, query head) as a thread-block cluster on as many
  // SMs, block r over rounds r, r + parts, ... of each warp, merged in distributed shared
  // memory; taken where parts·n_seqs·n_heads blocks fit one wave (else the most that do, or
  // 1). Same math, the sums in another order.
  int whole_parts = 1;
  // With whole: one block per (sequence, kv head) for all its query heads instead of one per
  // query head (a G-th of the blocks and K/V reads; whole_parts and the fit then count these
  // blocks). Taken where the group is 2-4 (detail::decode_attn_whole_group_ok), else ignored.
  // Same math per head, the same sums in the same order.
  bool whole_grouped = false;
};
// Diagnostics: the decode attention's per-block phase stamps of its last launch, one line per
// block on stderr ("attn-timeline BLOCK t0..t7", µs from the first block's launch, -1 for a
// phase not reached); compiled in with MLXM_CUDA_TIMELINE (timeline.cuh), else nothing.
void paged_attention_timeline_dump();
// Diagnostics: the kernel chain of the last decode steps (the GEMVs, the decode attention, the
// norms, SiLU·mul: per block and launch its start, wait and end, timeline.cuh) as "chain ..."
// lines on stderr, for tools/gpu/attn_timeline.sh; compiled in with MLXM_CUDA_TIMELINE, else
// nothing.
void chain_timeline_dump();
// Diagnostics: per-step stamps of the bulk GEMV's launches of shape (n_out, n_in) (each block's
// first consumer and the producer lane feeding it: copies issued, slot full, slot done; the
// consumer's start, wait and end), selected before the run; the dump prints the last such
// launch as "gemv-probe BLOCK start wait end (issue ready done)×16" lines (µs from its first
// block's start, -1: not reached) on stderr for tools/gpu/gemv_probe.py. Compiled in with
// MLXM_CUDA_TIMELINE, else nothing.
void gemv_probe_select(int n_out, int n_in);
void gemv_probe_dump();
size_t paged_attention_workspace_floats(int64_t n_seqs, int n_heads, int head_dim, int splits);
// The splits the engine asks for in a decode step of n_seqs sequences whose block tables cover
// max_ctx positions: enough blocks (n_seqs · n_kv_heads · splits) for two waves over the SMs,
// but no split shorter than one round of the decode kernel (32 positions, 8 above head_dim
// 128: the K/V loads of a round are all in flight, so a split costs one memory round trip),
// at most 64; 1 when nothing asks for more. Host code.
int paged_attention_decode_splits(int64_t n_seqs, int n_kv_heads, int head_dim, int64_t max_ctx,
                                  int sm_count, int warps = 4);
// Whether AttnSplit::whole is taken for such a launch on device 0 (sm_90+ and
// detail::decode_attn_whole_fits; 16-byte aligned caches and output assumed): a block per query
// head, or, grouped, per kv head for its group (AttnSplit::whole_grouped).
bool paged_attention_decode_whole_supported(int64_t n_seqs, int n_heads, int n_kv_heads,
                                            int head_dim, int64_t max_blocks_per_seq,
                                            bool grouped = false);
Status paged_attention_decode(const float* q, const int32_t* block_tables, int max_blocks_per_seq,
                              const int32_t* context_lens, int64_t n_seqs, int n_heads,
                              const KvLayerView& kv, float scale, float* out,
                              Stream stream = nullptr, const AttnSplit& split = {});

// ---- prefill attention (attention_prefill.cu) ----------------------------------------------
// Flash-attention-style causal attention for many query tokens of one sequence at a time over
// the paged cache. q, out (n_tokens, n_heads, head_dim) f32; context_lens (n_tokens): token i
// attends positions [0, context_lens[i]) of its sequence. `tiles` (n_tiles, 3) int32 on the
// device: {first token, token count, table token}: tokens [first, first + count) belong to one
// sequence (count <= paged_attention_prefill_tile_tokens(...)) and read block table row
// `table token` of block_tables (n_tokens, max_blocks_per_seq), which must cover the largest
// context of the tile. Each tile's K/V is read once per 32-position slice for all its tokens
// and query heads of a kv head (shared memory), with an online softmax in f32 per query row:
// the result equals paged_attention_decode run once per token up to f32 rounding. A block id
// outside the cache is never read: rows whose context reaches it are NaN. Context 0: zeros.
// head_dim: a multiple of 4 up to 128 (paged_attention_prefill_supported); F16/BF16 KV; at most
// 8 query heads per kv head.
bool paged_attention_prefill_supported(int n_heads, const KvLayerView& kv);
// Raises the kernels' shared-memory limit (done by the first call anyway; engines call it at
// load so that no graph capture is the first).
Status paged_attention_prefill_prepare();
// Tokens per tile: 64 query rows per block / (n_heads / n_kv_heads).
int paged_attention_prefill_tile_tokens(int n_heads, int n_kv_heads);
// tensor_cores where paged_attention_prefill_tc_supported (head_dim 64 or 128): the same tiles
// on mma.sync (attention_prefill_mma.cu), Q and the softmax weights P rounded to the cache's
// type for the products (f32 accumulation and softmax): a relative error of a few units of that
// type's rounding instead of f32's. Elsewhere the flag is ignored.
bool paged_attention_prefill_tc_supported(int n_heads, const KvLayerView& kv);
Status paged_attention_prefill(const float* q, const int32_t* block_tables, int max_blocks_per_seq,
                               const int32_t* context_lens, const int32_t* tiles, int64_t n_tiles,
                               int64_t n_tokens, int n_heads, const KvLayerView& kv, float scale,
                               float* out, Stream stream = nullptr, bool tensor_cores = false);

// ---- fused decoder-step ops (fused.cu) -----------------------------------------------------
// After the q/k/v projection, in one launch: per token t and head, q = rope(rms(q)·q_norm)
// into q_out (n_tokens, n_heads, head_dim); k = rope(rms(k)·k_norm) and v stored into the paged
// cache at slots[t] (negative or past the cache: skipped), F16/BF16/F32. q_in row t starts at
// q_in + t·q_stride (n_heads·head_dim floats), k_in / v_in rows at t·kv_stride (n_kv_heads ·
// head_dim floats): the fused qkv output is q_in = qkv, k_in = qkv + q_w, v_in = qkv + q_w +
// kv_w with both strides q_w + 2·kv_w. q_norm / k_norm (head_dim) null: no q/k RMSNorm (Llama);
// given: Qwen3's per-head RMSNorm with `eps`. RoPE as rope() (NeoX, inv_freq (head_dim/2)).
// head_dim even, <= 256. Equals rms_norm + rope + kv_store up to f32 rounding of the norm.
// `in`: q_in, k_in and v_in are read as split-K slices (split_k.h).
Status qkv_rope_store(const float* q_in, int64_t q_stride, const float* k_in, const float* v_in,
                      int64_t kv_stride, const float* q_norm, const float* k_norm, float eps,
                      const int32_t* positions, const float* inv_freq, const int32_t* slots,
                      int64_t n_tokens, int n_heads, const KvLayerView& kv, float* q_out,
                      Stream stream = nullptr, const Slices& in = {});

// Residual add then RMSNorm, one pass: x (n, dim) += y; xn (n, dim) = rms_norm(x)·weight.
// xn must not alias x or y. `q`: also xn in the next linear's form (see XTarget; all
// pointers 16-byte aligned). `ys`: y is read as split-K slices (split_k.h; stride a multiple
// of 4 for the vector kernel).
Status add_rms_norm(float* x, const float* y, const float* weight, float eps, int64_t n,
                    int64_t dim, float* xn, Stream stream = nullptr, const XTarget& q = {},
                    const Slices& ys = {});

// Greedy sampling on the device: ids (n_rows) int32 = index of the largest value of each row of
// x (n_rows, dim): the lowest such index; NaN entries never win; a row of NaN only gives -1
// (the same rule as Engine::forward_argmax's host default).
Status argmax_rows(const float* x, int64_t n_rows, int64_t dim, int32_t* ids,
                   Stream stream = nullptr);

}  // namespace mlxm::engine::cuda
