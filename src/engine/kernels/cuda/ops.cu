// The split-KV decode attention of cuda_ops.h (paged_attention_decode) and its merges; the
// elementwise kernels are in elementwise.cu.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

#include <algorithm>

#include "engine/kernels/cuda/attention_plan.h"
#include "engine/kernels/cuda/attn_kv_bulk.cuh"
#include "engine/kernels/cuda/attn_round.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/gemm.cuh"
#include "engine/kernels/cuda/grid.cuh"
#include "engine/kernels/cuda/kv_rope.cuh"
#include "engine/kernels/cuda/norm_rows.cuh"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/timeline.cuh"
#include "engine/kernels/cuda/quant_rows.cuh"

namespace mlxm::engine::cuda {

namespace detail {
// AttnSplit::whole's launch (attention_decode_whole.cu), after paged_attention_decode's checks;
// grouped: AttnSplit::whole_grouped, for a group decode_attn_whole_group_ok takes.
Status launch_decode_whole(const float* q, const int32_t* tables, int max_blocks,
                           const int32_t* ctx, int64_t n_seqs, int n_heads, const KvLayerView& kv,
                           float scale, float* out, const XTarget& oq,
                           const KvTensorMaps* maps, int parts, bool grouped,
                           cudaStream_t stream);
}  // namespace detail

namespace {

using kv_rope::to_float;

constexpr int kAttnWarps = detail::kDecodeAttnWarps;

// The decode attention's phase stamps (timeline.cuh; compiled in with MLXM_CUDA_TIMELINE).
#ifdef MLXM_CUDA_TIMELINE
__device__ unsigned long long g_attn_stamps[timeline::kBlocks][timeline::kPhases];
#define MLXM_ATTN_STAMP(...) timeline::stamp(g_attn_stamps, __VA_ARGS__)
#else
#define MLXM_ATTN_STAMP(...) ((void)0)
#endif
constexpr int kMaxGroup = 8;

// HPL consecutive KV elements as floats: one 4/8/16-byte load when `vec` (the caller checked
// the alignment), else HPL scalar loads.
template <typename T, int HPL>
__device__ __forceinline__ void load_kv(const T* __restrict__ p, bool vec, float (&o)[HPL]) {
  if constexpr (HPL >= 2) {
    if (vec) {
      using V = std::conditional_t<HPL == 2, unsigned int,
                                   std::conditional_t<HPL == 4, uint2, uint4>>;
      const V raw = __ldg(reinterpret_cast<const V*>(p));
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int i = 0; i < HPL; ++i) o[i] = to_float(e[i]);
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < HPL; ++i) o[i] = to_float(p[i]);
}

// Σ_s acc_s·2^(m_s−M) / Σ_s l_s·2^(m_s−M) for W consecutive entries [d, d + W) of row r over
// the splits of the split-KV decode (part: acc per (split, row, dim), then (m, l) per (split,
// row), m in log2 units). The splits go in rounds of kMergeRound whose loads are all issued before their math
// (one L2 round trip per round, not one per split), with the running maximum rescaled per
// round. A NaN entry in any split (a bad block) makes the entry NaN. L2 loads (ld.global.cg):
// the decode kernel's fused merge reads partials other blocks wrote during the same launch.
constexpr int kMergeRound = 16;

template <int W>
__device__ __forceinline__ void merge_splits(const float* part, int splits, int64_t n_rows,
                                             int hd, int64_t r, int d, float (&res)[W]) {
  using V = std::conditional_t<W == 4, float4, float>;
  const float* ml = part + static_cast<size_t>(splits) * n_rows * hd;
  float mx = -INFINITY, lsum = 0.0f;
  float a[W];
  bool nan[W];
#pragma unroll
  for (int k = 0; k < W; ++k) {
    a[k] = 0.0f;
    nan[k] = false;
  }
  for (int s0 = 0; s0 < splits; s0 += kMergeRound) {
    float m[kMergeRound], l[kMergeRound], v[kMergeRound][W];
#pragma unroll
    for (int j = 0; j < kMergeRound; ++j) {
      m[j] = -INFINITY;
      l[j] = 0.0f;
#pragma unroll
      for (int k = 0; k < W; ++k) v[j][k] = 0.0f;
      if (s0 + j >= splits) continue;
      const size_t pi = static_cast<size_t>(s0 + j) * n_rows + r;
      m[j] = __ldcg(ml + 2 * pi);
      l[j] = __ldcg(ml + 2 * pi + 1);
      const V pv = __ldcg(reinterpret_cast<const V*>(part + pi * hd + d));
      memcpy(v[j], &pv, sizeof(pv));
    }
    float cm = mx;
#pragma unroll
    for (int j = 0; j < kMergeRound; ++j) cm = fmaxf(cm, m[j]);
    if (cm != -INFINITY) {
      const float corr = exp2f(mx - cm);  // 0 while nothing was seen (mx = -inf)
      lsum *= corr;
#pragma unroll
      for (int k = 0; k < W; ++k) a[k] *= corr;
#pragma unroll
      for (int j = 0; j < kMergeRound; ++j) {
        const float c = exp2f(m[j] - cm);  // 0 for empty splits and padding (m = -inf)
        lsum = fmaf(l[j], c, lsum);
#pragma unroll
        for (int k = 0; k < W; ++k) a[k] = fmaf(v[j][k], c, a[k]);
      }
      mx = cm;
    }
#pragma unroll
    for (int j = 0; j < kMergeRound; ++j) {
#pragma unroll
      for (int k = 0; k < W; ++k) nan[k] |= v[j][k] != v[j][k];
    }
  }
#pragma unroll
  for (int k = 0; k < W; ++k) res[k] = nan[k] ? NAN : (lsum > 0.0f ? a[k] / lsum : 0.0f);
}

// Positions in flight per warp (bounded by registers): kU consecutive positions per round
// (attention_plan.h, which the engine plans its splits with).
template <int HPL>
constexpr int kAttnU = detail::decode_attn_positions_per_warp(HPL * 32);
static_assert(kAttnU<8> == 2 && kAttnU<4> == 8 && kAttnU<1> == 8, "attention_plan.h");

// Position u > 0 of a round: the (block, slot) after position u - 1's.
__device__ __forceinline__ void next_slot(int u, int& bi, int& slot, int block_size) {
  if (u > 0 && ++slot == block_size) {
    slot = 0;
    ++bi;
  }
}

// Before pdl::wait() (AttnSplit::prefetch_kv): the K/V lines of a warp's first round into L2,
// located with the context length and block table as they read before the step's inputs are
// ready. A hint only: a stale guess costs bandwidth, never a result (the kernel reads both
// again after the wait), and block ids are bounds-checked, so every address lies in the cache.
// The step's own position (the qkv kernel may still be writing it) is only brought into L2,
// where writes land.
// The metadata loads go through L2 only (ld.global.cg), so that no stale line stays in L1 for
// the reads after the wait. One lane per 128-byte line issues prefetch.global.L2.
template <typename T, int HPL>
__device__ __forceinline__ void prefetch_first_round(const int32_t* table, int max_blocks,
                                                     const int32_t* ctx, const T* kc,
                                                     const T* vc, int block_size,
                                                     int64_t n_blocks, int64_t row, int kvh,
                                                     int hd, int lane, int p_first) {
  constexpr int kU = kAttnU<HPL>;
  const int n_guess = __ldcg(ctx);
  const bool issuer = lane * HPL < hd && (lane * HPL * static_cast<int>(sizeof(T))) % 128 == 0;
  int bi = p_first / block_size;
  int slot = p_first - bi * block_size;
#pragma unroll
  for (int u = 0; u < kU; ++u) {
    next_slot(u, bi, slot, block_size);
    if (p_first + u >= n_guess || bi >= max_blocks || !issuer) continue;
    const int64_t blk = __ldcg(table + bi);
    if (blk < 0 || blk >= n_blocks) continue;
    const int64_t off = (blk * block_size + slot) * row + static_cast<int64_t>(kvh) * hd + lane * HPL;
    asm volatile("prefetch.global.L2 [%0];" ::"l"(kc + off));
    asm volatile("prefetch.global.L2 [%0];" ::"l"(vc + off));
  }
}

// One block per (sequence, kv head, split): each warp takes kU consecutive positions per round
// (warp w of W: p_begin + w·kU + j·W·kU + u); every K/V load of a round is issued before its math,
// so a round costs one memory round trip after its block-table reads. Per query head of the
// group, the kU scores are reduced across the warp together and folded into an online softmax
// with one rescale per round; lane l owns dims [l*HPL, (l+1)*HPL) of the hd head dims (lanes
// past hd/HPL hold zeros: head_dim 16..256).
// Warps merge their (max, sum, acc) in shared memory at the end. G (2, 4 or 8) bounds the
// query heads per kv head: the per-head registers of G = 8 cost blocks per SM at large
// batches, and every round computes all G heads.
template <typename T, int HPL, int G, int W>
__global__ void __launch_bounds__(W * 32)
    paged_decode_kernel(const float* __restrict__ q, const int32_t* __restrict__ block_tables,
                        int max_blocks, const int32_t* __restrict__ context_lens, int n_heads,
                        const T* __restrict__ kc, const T* __restrict__ vc, int block_size,
                        int n_kv_heads, int hd, int64_t n_blocks, float scale,
                        float* __restrict__ out, int chunk, float* __restrict__ part, bool vec,
                        int* __restrict__ merge_counters, void* xq, bool perm4,
                        bool kv_prefetch, bool kv_bulk) {
  MLXM_ATTN_STAMP(0);  // launched
  MLXM_CHAIN_BEGIN(timeline::kAttnDecode, threadIdx.x == 0, kc);
  pdl::launch_dependents();
  constexpr int kHd = HPL * 32;
  constexpr int kU = kAttnU<HPL>;
  __shared__ float sm_m[W][G];
  __shared__ float sm_l[W][G];
  // kv_bulk: warp w's K/V staging (attn_kv_bulk.cuh) shares its bytes with sm_acc, which is
  // written only after every warp's rounds (a barrier between): no more shared memory.
  using Stage = attn_kv_bulk::WarpStage<T, HPL, kU>;
  constexpr int kAccBytes = W * G * kHd * static_cast<int>(sizeof(float));
  __shared__ __align__(128) unsigned char
      sm_raw[W * Stage::kBytes > kAccBytes ? W * Stage::kBytes : kAccBytes];
  float(&sm_acc)[W][G][kHd] = *reinterpret_cast<float(*)[W][G][kHd]>(sm_raw);
  __shared__ __align__(8) uint64_t sm_bar[W];
  __shared__ int bad_block;
  const int seq = blockIdx.x / n_kv_heads;
  const int kvh = blockIdx.x % n_kv_heads;
  const int group = n_heads / n_kv_heads;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const bool active = lane * HPL < hd;
  const int32_t* table = block_tables + static_cast<size_t>(seq) * max_blocks;
  const int p_first = static_cast<int>(blockIdx.y) * chunk + warp * kU;
  const int64_t row = static_cast<int64_t>(n_kv_heads) * hd;
  if (kv_prefetch) prefetch_first_round<T, HPL>(table, max_blocks, context_lens + seq, kc, vc,
                                                block_size, n_blocks, row, kvh, hd, lane, p_first);
  pdl::wait();  // the context lengths and tables too: a step's metadata changes between steps
  MLXM_ATTN_STAMP(1);  // the predecessor is done
  MLXM_CHAIN_WAIT();
  // The first round's block-table entries are read alongside the context length (in bounds of
  // the table whatever the context, masked by it afterwards): one L2 round trip, not two.
  int32_t first_blk[kU];
  {
    int bi = p_first / block_size;
    int slot = p_first - bi * block_size;
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      next_slot(u, bi, slot, block_size);
      first_blk[u] = bi < max_blocks ? table[bi] : -1;
    }
  }
  const int n_ctx_all = context_lens[seq];
  // Split-KV: this block takes positions [p_begin, n_ctx) of the context (gridDim.y splits).
  const int p_begin = blockIdx.y * chunk;
  const int n_ctx = blockIdx.y + 1 == gridDim.y ? n_ctx_all : min(n_ctx_all, p_begin + chunk);
  if (threadIdx.x == 0) {
    bad_block = 0;
    if (kv_bulk) attn_kv_bulk::init_barriers(sm_bar, W);
  }
  Stage stage{reinterpret_cast<T*>(sm_raw) + warp * (Stage::kBytes / sizeof(T)), &sm_bar[warp]};

  // Element offsets of a round's positions (-1: past the context; -2: a bad block id); the
  // first round takes its table entries from first_blk.
  auto offsets = [&](int p0, int64_t (&off)[kU]) {
    int bi = p0 / block_size;  // one division per round: (block, slot) of p0, then stepped
    int slot = p0 - bi * block_size;
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      next_slot(u, bi, slot, block_size);
      off[u] = -1;
      if (p0 + u >= n_ctx) continue;
      const int64_t blk = p0 == p_first ? first_blk[u] : (bi < max_blocks ? table[bi] : -1);
      off[u] = blk < 0 || blk >= n_blocks
                   ? -2
                   : (blk * block_size + slot) * row + static_cast<int64_t>(kvh) * hd + lane * HPL;
    }
  };
  __syncthreads();

  // Scores in log2 units (q·scale·log2 e): exp2f is one MUFU op; m is in the same units.
  const float qscale = scale * 1.4426950408889634f;
  float qv[G][HPL];
  float m[G], l[G], acc[G][HPL];
#pragma unroll
  for (int h = 0; h < G; ++h) {
    const int hh = min(h, group - 1);
    const float* qh = q + (static_cast<size_t>(seq) * n_heads + kvh * group + hh) * hd;
#pragma unroll
    for (int i = 0; i < HPL; ++i) {
      qv[h][i] = active ? qh[lane * HPL + i] * qscale : 0.0f;
      acc[h][i] = 0.0f;
    }
    m[h] = -INFINITY;
    l[h] = 0.0f;
  }
  MLXM_ATTN_STAMP(2, n_ctx_all, first_blk[0], qv[0][0]);  // context length, table, q arrived

  for (int p0 = p_begin + warp * kU; p0 < n_ctx; p0 += W * kU) {
    int64_t off[kU];
    offsets(p0, off);
    float kf[kU][HPL], vf[kU][HPL];
    uint32_t okmask = 0;  // warp-uniform: bit u = position u exists and its block id is valid
    if (kv_bulk) {
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        if (off[u] == -2 && lane == 0) bad_block = 1;
        if (off[u] >= 0) okmask |= 1u << u;
      }
      if (stage.issue(kc, vc, off, hd, lane)) stage.take(off, active, lane, kf, vf);
    } else {
#pragma unroll
      for (int u = 0; u < kU; ++u) {
#pragma unroll
        for (int i = 0; i < HPL; ++i) kf[u][i] = vf[u][i] = 0.0f;
        if (off[u] == -2 && lane == 0) bad_block = 1;
        if (off[u] < 0) continue;
        okmask |= 1u << u;
        if (!active) continue;
        load_kv<T, HPL>(kc + off[u], vec, kf[u]);
        load_kv<T, HPL>(vc + off[u], vec, vf[u]);
      }
    }
    if (okmask == 0) continue;
    MLXM_ATTN_STAMP(3, kf[0][0], vf[kU - 1][HPL - 1]);  // the (last) round's K/V arrived
    // The round's math (attn_round.cuh) for all G heads, with no early exit, so that their
    // shuffle chains interleave; heads past the group repeat its last head and are never stored.
    const bool my_ok = (okmask >> (lane >> attn_round::kShift<kU>)) & 1u;
#pragma unroll
    for (int h = 0; h < G; ++h) {
      attn_round::head<HPL, kU>(qv[h], kf, vf, my_ok, lane, m[h], l[h], acc[h]);
    }
  }

  MLXM_ATTN_STAMP(4, m[0], acc[0][0]);  // the rounds' math done
  if (kv_bulk) __syncthreads();  // every warp's staging read before sm_acc takes its bytes
#pragma unroll
  for (int h = 0; h < G; ++h) {
    if (lane == 0) {
      sm_m[warp][h] = m[h];
      sm_l[warp][h] = l[h];
    }
#pragma unroll
    for (int i = 0; i < HPL; ++i) sm_acc[warp][h][lane * HPL + i] = acc[h][i];
  }
  __syncthreads();
  // Merge: thread t handles (head h, dim d) entries.
  for (int e = threadIdx.x; e < group * hd; e += blockDim.x) {
    const int h = e / hd;
    const int d = e % hd;
    float mx = -INFINITY;
    for (int w = 0; w < W; ++w) mx = fmaxf(mx, sm_m[w][h]);
    float lsum = 0.0f, a = 0.0f;
    if (mx != -INFINITY) {
      for (int w = 0; w < W; ++w) {
        const float c = exp2f(sm_m[w][h] - mx);
        lsum += sm_l[w][h] * c;
        a += sm_acc[w][h][d] * c;
      }
    }
    const size_t oi = static_cast<size_t>(seq) * n_heads + kvh * group + h;
    if (part != nullptr) {
      // Unnormalized partial: acc (relative to mx), then (mx, lsum) per (split, entry, head);
      // mx in log2 units (the scores' units here).
      const size_t n_rows = static_cast<size_t>(gridDim.x / n_kv_heads) * n_heads;
      const size_t pi = static_cast<size_t>(blockIdx.y) * n_rows + oi;
      part[pi * hd + d] = bad_block != 0 ? NAN : (mx != -INFINITY ? a : 0.0f);
      if (d == 0) {
        float* ml = part + static_cast<size_t>(gridDim.y) * n_rows * hd;
        ml[2 * pi] = mx;
        ml[2 * pi + 1] = lsum;
      }
      continue;
    }
    float r = lsum > 0.0f ? a / lsum : 0.0f;
    if (bad_block != 0) r = NAN;
    out[oi * hd + d] = r;
  }
  if (part == nullptr || merge_counters == nullptr) {
    MLXM_CHAIN_END();
    return;
  }

  // Fused split merge (AttnSplit::merge_counters): the block that finishes its (sequence, kv
  // head) last merges every split's partials, which are in L2, and sets the counter back to 0
  // for the next launch; the others are done. Release and acquire are one atomic of thread 0
  // (atom.acq_rel.gpu): the barrier before it orders every thread's partials before the release
  // (release is cumulative), the barrier after it the last block's reads (through L2,
  // ld.global.cg) after the acquire. One round trip instead of a fence per thread, the
  // atomic, then another fence.
  __shared__ int last;
  MLXM_ATTN_STAMP(5);  // partials written
  __syncthreads();
  if (threadIdx.x == 0) {
    int prev;
    asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], 1;"
                 : "=r"(prev)
                 : "l"(&merge_counters[blockIdx.x])
                 : "memory");
    last = prev == static_cast<int>(gridDim.y) - 1;
    if (last) merge_counters[blockIdx.x] = 0;
    MLXM_ATTN_STAMP(6, prev);  // counted in
  }
  __syncthreads();
  if (!last) {
    MLXM_CHAIN_END();
    return;
  }
  const int64_t n_rows = static_cast<int64_t>(gridDim.x / n_kv_heads) * n_heads;
  const int hd4 = hd / 4, n4 = group * hd4;
  // Thread t: the float4 entries t, t + blockDim.x, ... of the group's heads; as in
  // attn_merge_vec_kernel every lane reaches store_block (its shuffles), and lane ≡ chunk mod 8
  // because the launcher asks for head_dim % 32 == 0 with xq.
  for (int base = 0; base < n4; base += blockDim.x) {
    const int e4 = base + static_cast<int>(threadIdx.x);
    const bool in = e4 < n4;
    float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
    if (in) {
      const int64_t row = static_cast<int64_t>(seq) * n_heads + kvh * group + e4 / hd4;
      float res[4];
      merge_splits<4>(part, gridDim.y, n_rows, hd, row, 4 * (e4 % hd4), res);
      o = make_float4(res[0], res[1], res[2], res[3]);
      reinterpret_cast<float4*>(out + row * hd)[e4 % hd4] = o;
    }
    if (xq != nullptr) {
      const int width = n_heads * hd;
      quant_rows::store_block(o, in, static_cast<int64_t>(kvh) * group * hd4 + e4,
                              quant_rows::xq_row(xq, width, seq), quant_rows::xds_row(xq, width, seq),
                              perm4);
    }
  }
  MLXM_ATTN_STAMP(7);  // the last block merged
  MLXM_CHAIN_END();
}

// Merges the splits of the split-KV decode, one thread per output entry.
__global__ void attn_merge_kernel(const float* __restrict__ part, int splits, int64_t n_rows,
                                  int hd, float* __restrict__ out) {
  pdl::launch_dependents();
  pdl::wait();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n_rows * hd;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float res[1];
    merge_splits<1>(part, splits, n_rows, hd, i / hd, static_cast<int>(i % hd), res);
    out[i] = res[0];
  }
}

// The same with one thread per 4 consecutive outputs of a row (head_dim % 4 == 0, 16-byte
// aligned part/out), and optionally the rows (token, n_heads·head_dim) quantized for the int8
// GEMV of o_proj (head_dim % 32 == 0: a 32-block never leaves a head).
__global__ void attn_merge_vec_kernel(const float* __restrict__ part, int splits, int64_t n_rows,
                                      int hd, int n_heads, float* __restrict__ out, void* xq,
                                      bool perm4) {
  pdl::launch_dependents();
  pdl::wait();
  const int hd4 = hd / 4;
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const bool in = c < n_rows * hd4;
  float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
  if (in) {
    float res[4];
    merge_splits<4>(part, splits, n_rows, hd, c / hd4, static_cast<int>(c % hd4) * 4, res);
    o = make_float4(res[0], res[1], res[2], res[3]);
    reinterpret_cast<float4*>(out)[c] = o;
  }
  if (xq != nullptr) {
    const int row4 = n_heads * hd4;  // float4s per token row
    const int64_t j = in ? c / row4 : 0;
    quant_rows::store_block(o, in, in ? c % row4 : 0, quant_rows::xq_row(xq, n_heads * hd, j),
                            quant_rows::xds_row(xq, n_heads * hd, j), perm4);
  }
}

// The operands of a decode-attention launch (paged_attention_decode, after its checks).
struct DecodeLaunch {
  const float* q;
  const int32_t* bt;  // block tables
  int max_blocks;
  const int32_t* cl;  // context lengths
  int64_t n_seqs;
  int n_heads;
  const KvLayerView& kv;
  float scale;
  float* out;
  cudaStream_t stream;
  float* ws;  // split partials
  int splits;
  const XTarget& oq;
  int* counters;  // AttnSplit::merge_counters
  bool prefetch_kv;  // AttnSplit::prefetch_kv
  bool kv_bulk;      // AttnSplit::kv_bulk
  int warps;         // AttnSplit::warps
};

// The decode kernel of 8 warps when `wide` (instantiated up to head_dim 128 only, as
// decode_attn_split_warps allows), else of kAttnWarps.
template <typename T, int HPL, int G>
auto decode_kernel_for(bool wide) {
  if constexpr (HPL <= 4) {
    if (wide) return paged_decode_kernel<T, HPL, G, detail::kDecodeAttnWideWarps>;
  }
  return paged_decode_kernel<T, HPL, G, kAttnWarps>;
}

template <typename T, int HPL>
Status launch_decode(const DecodeLaunch& d) {
  const float* q = d.q;
  const int32_t* bt = d.bt;
  const int max_blocks = d.max_blocks;
  const int32_t* cl = d.cl;
  const int64_t n_seqs = d.n_seqs;
  const int n_heads = d.n_heads;
  const KvLayerView& kv = d.kv;
  const float scale = d.scale;
  float* out = d.out;
  cudaStream_t stream = d.stream;
  float* ws = d.ws;
  const int splits = d.splits;
  const XTarget& oq = d.oq;
  int* counters = d.counters;
  const int64_t max_ctx = static_cast<int64_t>(max_blocks) * kv.block_size;
  const int chunk = static_cast<int>((max_ctx + splits - 1) / splits);
  const dim3 grid(static_cast<unsigned>(n_seqs * kv.n_kv_heads), static_cast<unsigned>(splits));
  // Vector K/V loads need every lane's first element aligned to HPL elements: the bases and
  // head_dim (hence every row, head and lane offset) are.
  const uintptr_t align = sizeof(T) * HPL;
  const bool vec = reinterpret_cast<uintptr_t>(kv.k) % align == 0 &&
                   reinterpret_cast<uintptr_t>(kv.v) % align == 0 && kv.head_dim % HPL == 0;
  const int group = n_heads / kv.n_kv_heads;
  // 8 warps per block (AttnSplit::warps) for split launches up to head_dim 128: rounds of 64
  // positions, half the splits, so that a merge of up to 16 splits takes one round.
  // (HPL <= 4 follows from head_dim <= 128; checked so that the kernel's template and the
  // thread count below can never differ.)
  const bool wide = splits > 1 && HPL <= 4 &&
                    detail::decode_attn_split_warps(kv.head_dim, d.warps) ==
                        detail::kDecodeAttnWideWarps;
  const int warps = wide ? detail::kDecodeAttnWideWarps : kAttnWarps;
  auto kernel = group <= 2   ? decode_kernel_for<T, HPL, 2>(wide)
                : group <= 4 ? decode_kernel_for<T, HPL, 4>(wide)
                             : decode_kernel_for<T, HPL, 8>(wide);
  // The split merge inside the decode kernel (counters given) needs the float4 layout.
  const bool vec4 = kv.head_dim % 4 == 0 && norm_rows::aligned16({ws, out});
  const bool fused = splits > 1 && counters != nullptr && vec4;
  // AttnSplit::kv_bulk where the copies can be made: rows of 16-byte multiples at 16-byte
  // aligned addresses (head_dim % 8 == 0 and aligned caches), an sm_90+ device.
  const bool kv_bulk = d.kv_bulk && kv.head_dim % 8 == 0 && norm_rows::aligned16({kv.k, kv.v}) &&
                       detail::device_has_bulk_copy();
  MLXM_CUDA_LAUNCH_PDL("paged_decode_kernel", kernel, grid, warps * 32, 0, stream, q, bt,
                       max_blocks, cl, n_heads, static_cast<const T*>(kv.k),
                       static_cast<const T*>(kv.v), kv.block_size, kv.n_kv_heads, kv.head_dim,
                       kv.n_blocks, scale, out, chunk, splits > 1 ? ws : nullptr, vec,
                       fused ? counters : nullptr, fused ? oq.scratch : nullptr, oq.bits == 4,
                       d.prefetch_kv, kv_bulk);
  if (fused) return ok_status();
  const int64_t vec_threads = n_seqs * n_heads * (kv.head_dim / 4);
  if (splits > 1 && vec4 && vec_threads <= int64_t{65535} * 16 * 256) {
    const int64_t n_rows = n_seqs * n_heads;
    const int64_t threads = vec_threads;
    MLXM_CUDA_LAUNCH_PDL("attn_merge_vec_kernel", attn_merge_vec_kernel, grid_for(threads, 256),
                         256, 0, stream, ws, splits, n_rows, kv.head_dim, n_heads, out,
                         oq.scratch, oq.bits == 4);
  } else if (splits > 1) {
    const int64_t n_rows = n_seqs * n_heads;
    const int64_t total = n_rows * kv.head_dim;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 4096));
    MLXM_CUDA_LAUNCH_PDL("attn_merge_kernel", attn_merge_kernel, blocks, 256, 0, stream, ws,
                         splits, n_rows, kv.head_dim, out);
  }
  return ok_status();
}

// launch_decode for hpl = 1, 2, 4 or 8 head dims per lane.
template <typename T>
Status launch_decode_hpl(int hpl, const DecodeLaunch& d) {
  if (hpl == 1) return launch_decode<T, 1>(d);
  if (hpl == 2) return launch_decode<T, 2>(d);
  if (hpl == 4) return launch_decode<T, 4>(d);
  return launch_decode<T, 8>(d);
}

}  // namespace

void paged_attention_timeline_dump() {
#ifdef MLXM_CUDA_TIMELINE
  static unsigned long long h[timeline::kBlocks][timeline::kPhases];
  if (cudaMemcpyFromSymbol(h, g_attn_stamps, sizeof(h)) != cudaSuccess) return;
  // The last launch: blocks that entered within 100 µs of the latest entry.
  unsigned long long latest = 0, t0 = ~0ull;
  for (const auto& b : h) latest = std::max(latest, b[0]);
  for (const auto& b : h) {
    if (b[0] != 0 && b[0] + 100000 >= latest) t0 = std::min(t0, b[0]);
  }
  for (int i = 0; i < timeline::kBlocks; ++i) {
    if (h[i][0] == 0 || h[i][0] + 100000 < latest) continue;
    std::fprintf(stderr, "attn-timeline %d", i);
    for (int k = 0; k < timeline::kPhases; ++k) {
      // -1: a phase this block did not reach in that launch (or a stale stamp).
      const bool in = h[i][k] >= t0 && h[i][k] <= latest + 100000;
      std::fprintf(stderr, " %.3f", in ? static_cast<double>(h[i][k] - t0) / 1000.0 : -1.0);
    }
    std::fprintf(stderr, "\n");
  }
#endif
}

void chain_timeline_dump() {
#ifdef MLXM_CUDA_TIMELINE
  // Entries that started within MLXM_CHAIN_WINDOW_US (default 6000) of the latest start of any
  // unit: the last decode steps, which tools/gpu/chain_timeline.py cuts into steps.
  using Unit = unsigned long long (*)(int, unsigned long long);
  const Unit units[] = {timeline::chain_dump_ops, timeline::chain_dump_elementwise,
                        timeline::chain_dump_fused, timeline::chain_dump_gemv_bulk,
                        timeline::chain_dump_gemv_stream,
                        timeline::chain_dump_attention_decode_whole,
                        timeline::chain_dump_attention_decode_whole_grouped};
  unsigned long long latest = 0;
  for (Unit u : units) latest = std::max(latest, u(0, 0));
  const char* w = std::getenv("MLXM_CHAIN_WINDOW_US");
  const unsigned long long window = (w != nullptr ? std::strtoull(w, nullptr, 10) : 6000) * 1000;
  const unsigned long long from = latest > window ? latest - window : 0;
  for (Unit u : units) u(1, from);
#endif
}

size_t paged_attention_workspace_floats(int64_t n_seqs, int n_heads, int head_dim, int splits) {
  return static_cast<size_t>(splits) * static_cast<size_t>(n_seqs) * n_heads * (head_dim + 2);
}

bool paged_attention_decode_whole_supported(int64_t n_seqs, int n_heads, int n_kv_heads,
                                            int head_dim, int64_t max_blocks_per_seq,
                                            bool grouped) {
  return detail::device_has_bulk_copy() &&
         detail::decode_attn_whole_fits(n_seqs, n_heads, n_kv_heads, head_dim, max_blocks_per_seq,
                                        detail::gemm_sm_count(), grouped);
}

Status paged_attention_decode(const float* q, const int32_t* block_tables, int max_blocks_per_seq,
                              const int32_t* context_lens, int64_t n_seqs, int n_heads,
                              const KvLayerView& kv, float scale, float* out, Stream stream,
                              const AttnSplit& split) {
  if (kv.dtype != DType::kF16 && kv.dtype != DType::kBF16) {
    return invalid_argument("cuda::paged_attention_decode: KV dtype must be F16 or BF16");
  }
  if (kv.n_kv_heads <= 0 || n_heads <= 0 || n_heads % kv.n_kv_heads != 0) {
    return invalid_argument("cuda::paged_attention_decode: n_heads " + std::to_string(n_heads) +
                            " not a multiple of n_kv_heads " + std::to_string(kv.n_kv_heads));
  }
  if (n_heads / kv.n_kv_heads > kMaxGroup) {
    return unimplemented("cuda::paged_attention_decode: more than 8 query heads per kv head");
  }
  // Lane l owns dims [l*hpl, (l+1)*hpl): hpl = 1, 2, 4 or 8 dims per lane.
  const int hd = kv.head_dim;
  const int hpl = hd <= 32 ? 1 : hd <= 64 ? 2 : hd <= 128 ? 4 : 8;
  if (hd <= 0 || hd > 256 || hd % hpl != 0) {
    return unimplemented("cuda::paged_attention_decode: head_dim " + std::to_string(hd) +
                         " (want <= 256 and a multiple of " + std::to_string(hpl) + ")");
  }
  if (kv.block_size <= 0 || max_blocks_per_seq <= 0 || n_seqs < 0) {
    return invalid_argument("cuda::paged_attention_decode: bad shape");
  }
  if (n_seqs == 0) return ok_status();
  if (n_seqs * kv.n_kv_heads > 0x7FFFFFFF) {
    return invalid_argument("cuda::paged_attention_decode: too many sequences");
  }
  if (q == nullptr || block_tables == nullptr || context_lens == nullptr || out == nullptr ||
      kv.k == nullptr || kv.v == nullptr) {
    return invalid_argument("cuda::paged_attention_decode: null pointer");
  }
  const XTarget& oq = split.out_q;
  // Blocks per sequence of the whole-context kernel: a query head's each, or a kv head's with
  // its group (AttnSplit::whole_grouped).
  const bool grouped =
      split.whole_grouped && detail::decode_attn_whole_group_ok(n_heads / kv.n_kv_heads);
  const int units = detail::decode_attn_whole_units(n_heads, kv.n_kv_heads, grouped);
  const bool whole = split.whole &&
                     paged_attention_decode_whole_supported(n_seqs, n_heads, kv.n_kv_heads, hd,
                                                            max_blocks_per_seq, grouped) &&
                     norm_rows::aligned16({kv.k, kv.v, out});
  if (whole) {
    if (oq.scratch != nullptr) {
      if (hd % 32 != 0) {
        return invalid_argument(
            "cuda::paged_attention_decode: a quantized output needs head_dim a multiple of 32");
      }
      MLXM_RETURN_IF_ERROR(norm_rows::check_target(oq, n_seqs, int64_t{n_heads} * hd, true,
                                                   "cuda::paged_attention_decode", false));
    }
    // Clusters only where every (sequence, head)'s blocks fit one wave.
    const int64_t sms = detail::gemm_sm_count();
    int parts = std::clamp(split.whole_parts, 1, 4);
    while (parts > 1 && parts * n_seqs * units > sms) --parts;
    return detail::launch_decode_whole(q, block_tables, max_blocks_per_seq,
                                       context_lens, n_seqs, n_heads, kv, scale, out, oq,
                                       split.kv_maps, parts, grouped, stream);
  }
  int splits = std::clamp(split.splits, 1, max_blocks_per_seq * kv.block_size);
  if (splits > 1 && (split.workspace == nullptr ||
                     split.workspace_floats <
                         paged_attention_workspace_floats(n_seqs, n_heads, hd, splits))) {
    splits = 1;
  }
  float* ws = split.workspace;
  if (splits > 1 && split.merge_counters != nullptr &&
      split.merge_counters_len < n_seqs * kv.n_kv_heads) {
    return invalid_argument("cuda::paged_attention_decode: merge_counters holds " +
                            std::to_string(split.merge_counters_len) + " counters, want " +
                            std::to_string(n_seqs * kv.n_kv_heads) + " (n_seqs x n_kv_heads)");
  }
  if (oq.scratch != nullptr) {
    if (splits == 1 || hd % 32 != 0 || !norm_rows::aligned16({ws, out}) ||
        n_seqs * n_heads * (hd / 4) > int64_t{65535} * 16 * 256) {
      return invalid_argument(
          "cuda::paged_attention_decode: a quantized output needs a split merge (splits > 1 with "
          "its workspace), head_dim a multiple of 32 and 16-byte aligned buffers");
    }
    MLXM_RETURN_IF_ERROR(norm_rows::check_target(oq, n_seqs, int64_t{n_heads} * hd, true,
                                                 "cuda::paged_attention_decode", false));
  }
  const DecodeLaunch d{q,   block_tables, max_blocks_per_seq, context_lens, n_seqs, n_heads, kv,
                       scale, out, stream, ws, splits, oq, split.merge_counters,
                       split.prefetch_kv, split.kv_bulk, split.warps};
  return kv.dtype == DType::kF16 ? launch_decode_hpl<__half>(hpl, d)
                                 : launch_decode_hpl<__nv_bfloat16>(hpl, d);
}

}  // namespace mlxm::engine::cuda

MLXM_CHAIN_DUMP_UNIT(ops)  // this unit's kernel-chain rings (the decode attention)
