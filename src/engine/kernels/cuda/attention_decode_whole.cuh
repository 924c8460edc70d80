// Internal to kernels/cuda: the decode attention without a split merge (AttnSplit::whole;
// cuda_ops.h), instantiated by attention_decode_whole.cu (one query head per block) and
// attention_decode_whole_grouped.cu (a kv head's G query heads per block). One block per
// (sequence, query head) reads that head's whole context, so no partials, no count-in and no
// second pass over L2 (the split kernel's last block spends ~4.5 µs per 3B layer on those,
// bench/NOTES.md run 121).
//
// Grouped (G > 1, AttnSplit::whole_grouped): one block per (sequence, kv head) does the same
// for the kv head's G query heads, each warp applying a round's K/V rows to all G of them: a
// G-th of the blocks and of the K/V bytes, G times the math per byte.
//
// A block is W warps (16); warp w takes positions w·kU .. w·kU + kU − 1 of every round of W·kU
// positions, and keeps R rounds (2) in flight in its own ring of shared-memory slots, each filled
// by bulk copies completing on the slot's mbarrier (bulk_copy.cuh): with the layer's tensor maps
// (AttnSplit::kv_maps) lane 0 copies a K box and a V box (kU consecutive positions of one page),
// else lanes 0..kU−1 each copy one position's K row and V row. A copy costs its warp ~37 ns to
// issue, so the boxes (2 per round instead of 16) are what make this kernel pay: 3B batch 1
// 889.0 → 951.6 tok/s (runs 123–126). A warp waits for round j, reads its dims, frees the slot,
// refills it with round j + R and then does round j's math (attn_round.cuh, as the split
// kernel's per head): scores in log2 units, an online softmax with one rescale per round. The
// warps' (max, sum, acc) meet in shared memory; warp 0 (warps 0..G-1) writes the row and, with
// XTarget, its int8 form for o_proj (quant_rows.cuh), as the split kernel's merge does.
//
// Each warp's rounds are a chain (~0.8 µs per round at 3B, run 126), so the kernel loses to the
// splits on long contexts: the engine takes it where detail::decode_attn_whole_pays
// (attention_plan.h, run 127).
//
// Clusters (P = 2, 3 or 4, AttnSplit::whole_parts): each (sequence, query head) is a thread-block
// cluster of P such blocks on P SMs. Block r takes rounds r, r + P, ... of every warp, so each
// warp's chain is 1/P as long and each SM reads 1/P of the K/V. At the end blocks 1..P-1 store
// their (max, sum, acc) into block 0's shared memory (distributed shared memory), one cluster
// barrier orders them, and block 0 merges them in rank order and writes the row.
// sm_90 only (bulk copies); the host asks for it only there (paged_attention_decode).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "engine/kernels/cuda/attention_plan.h"
#include "engine/kernels/cuda/attn_kv_bulk.cuh"
#include "engine/kernels/cuda/attn_round.cuh"
#include "engine/kernels/cuda/bulk_copy.cuh"
#include "engine/kernels/cuda/cluster.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/kv_rope.cuh"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/quant_rows.cuh"
#include "engine/kernels/cuda/timeline.cuh"

namespace mlxm::engine::cuda {

// Anonymous inside: each including unit has its own instantiations (and timeline rings).
namespace whole_attn {
namespace {

constexpr int kU = 8;  // positions per warp and round

// Shared memory of a block: per warp R slots of kU K rows then kU V rows of HPL·32 elements.
template <typename T, int HPL, int W, int R>
__host__ __device__ constexpr int whole_smem_bytes() {
  return W * R * 2 * kU * HPL * 32 * static_cast<int>(sizeof(T));
}

// The dynamic shared memory of a launch: the ring, then the block table's max_blocks entries
// (rounded up to 16 bytes), so that short tables leave their bytes to other blocks.
template <typename T, int HPL, int W, int R>
constexpr int whole_launch_smem_bytes(int max_blocks) {
  return whole_smem_bytes<T, HPL, W, R>() + (max_blocks * 4 + 15) / 16 * 16;
}

// Lane t < head_dim/4 of head g's merging warp: the block's (max, sum, acc of dims 4t .. 4t + 3)
// of head g from its warps' in shared memory (scores in log2 units).
template <int W, int G, int kHd>
__device__ __forceinline__ void merge_warps(const float (&s_m)[W][G], const float (&s_l)[W][G],
                                            const float (&s_acc)[W][G][kHd], int g, int lane,
                                            float& mx, float& lsum, float (&a)[4]) {
  mx = -INFINITY;
#pragma unroll
  for (int w = 0; w < W; ++w) mx = fmaxf(mx, s_m[w][g]);
  lsum = 0.0f;
#pragma unroll
  for (int k = 0; k < 4; ++k) a[k] = 0.0f;
  if (mx == -INFINITY) return;
#pragma unroll
  for (int w = 0; w < W; ++w) {
    const float c = exp2f(s_m[w][g] - mx);
    lsum += s_l[w][g] * c;
#pragma unroll
    for (int k = 0; k < 4; ++k) a[k] += s_acc[w][g][4 * lane + k] * c;
  }
}

// The normalized dims 4·lane .. 4·lane + 3 of the head's output row, stored and returned: NaN
// after a bad block id, zeros for an empty context.
__device__ __forceinline__ float4 store_row(float lsum, const float (&a)[4], bool bad, float* row,
                                            int lane) {
  float r[4];
#pragma unroll
  for (int k = 0; k < 4; ++k) r[k] = bad ? NAN : (lsum > 0.0f ? a[k] / lsum : 0.0f);
  const float4 o = make_float4(r[0], r[1], r[2], r[3]);
  reinterpret_cast<float4*>(row)[lane] = o;
  return o;
}

// At most 96 registers a thread (116-118 uncapped at head_dim 128, a few bytes of spills
// capped), so that 16 warps leave room for two 128-thread GEMV blocks of the next launches on
// the SM: 3B +0.2-0.3 %, 8B +0.4-0.7 % at batch 1 (bench/NOTES.md runs 142-143). Grouped blocks
// hold G heads' (q, acc) besides a round's K and V: 128, the whole register file at 16 warps.
constexpr int kWholeMaxRegs = 96;
constexpr int kWholeGroupedMaxRegs = 128;
template <int G>
constexpr int whole_max_regs() {
  return G == 1 ? kWholeMaxRegs : kWholeGroupedMaxRegs;
}

template <typename T, int HPL, int W, int R, int P, int G>
__global__ void __maxnreg__(whole_max_regs<G>())
    paged_decode_whole_kernel(const float* __restrict__ q, const int32_t* __restrict__ tables,
                              int max_blocks, const int32_t* __restrict__ context_lens,
                              int n_heads, const T* __restrict__ kc, const T* __restrict__ vc,
                              int block_size, int n_kv_heads, int hd, int64_t n_blocks,
                              float scale, float* __restrict__ out, void* xq, bool perm4,
                              const __grid_constant__ TensorMapBytes kmap,
                              const __grid_constant__ TensorMapBytes vmap, bool tma) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  __trap();  // bulk copies: the host launches this kernel on sm_90+ devices only
#else
  MLXM_CHAIN_BEGIN(timeline::kAttnDecode, threadIdx.x == 0, kc);  // thread 0 ends in warp 0
  pdl::launch_dependents();
  constexpr int kHd = HPL * 32;
  constexpr int kSlot = 2 * kU * kHd;  // elements per slot: kU K rows, then kU V rows
  extern __shared__ __align__(128) unsigned char s_dyn[];  // whole_launch_smem_bytes
  T* s_kv = reinterpret_cast<T*>(s_dyn);                    // [W][R][2][kU][kHd]
  // After every warp's rounds the ring's bytes hold the warps' accumulators: [W][G][kHd] floats.
  float(&s_acc)[W][G][kHd] = *reinterpret_cast<float(*)[W][G][kHd]>(s_dyn);
  static_assert(W * G * kHd * 4 <= whole_smem_bytes<T, HPL, W, R>(), "s_acc fits the ring");
  __shared__ __align__(8) uint64_t s_bar[W][R];    // "full": the slot's copies landed
  __shared__ __align__(8) uint64_t s_empty[W][R];  // the warp has read the slot
  __shared__ uint32_t s_ok[W][R];  // bit u: position u of the slot's round was copied
  __shared__ float s_m[W][G], s_l[W][G];
  __shared__ int s_bad;
  // P > 1: block r's (acc[kHd], max, sum, bad) of head g at (r - 1)·G + g, stored by block r
  // into block 0's copy.
  constexpr int kPeer = kHd + 3;
  __shared__ float s_peer[P > 1 ? (P - 1) * G * kPeer : 1];
  // The sequence's block table [max_blocks], after the ring (whole_launch_smem_bytes): read
  // once, so that no round waits for a table read from L2.
  int32_t* const s_table =
      reinterpret_cast<int32_t*>(s_dyn + whole_smem_bytes<T, HPL, W, R>());

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int rank = P > 1 ? static_cast<int>(cluster::rank()) : 0;
  // The block's (sequence, query head), or (sequence, kv head) with its heads head0 .. head0+G-1.
  // (Unsigned from blockIdx, each value from it alone: an int block unit kept live beside them
  // spilled 40-56 bytes at 96 registers, where these spill 16-20; 3B batch 1 -1.6 %, run 172.)
  const int seq = (blockIdx.x / P) / (G == 1 ? n_heads : n_kv_heads);
  const int head0 = G == 1 ? (blockIdx.x / P) % n_heads : ((blockIdx.x / P) % n_kv_heads) * G;
  const int kvh = G == 1 ? head0 / (n_heads / n_kv_heads) : head0 / G;
  const bool active = lane * HPL < hd;
  if (threadIdx.x == 0) {
    for (int w = 0; w < W; ++w) {
      for (int r = 0; r < R; ++r) {
        bulk_copy::init(&s_bar[w][r], 1);
        bulk_copy::init(&s_empty[w][r], 1);
      }
    }
    bulk_copy::fence_init();
    s_bad = 0;
  }
  __syncthreads();
  pdl::wait();  // q, the step's own K/V row, the lengths and tables
  MLXM_CHAIN_WAIT();

  // The table with the length and q (one L2 round trip); the launch sized s_table for
  // max_blocks entries (at most kDecodeAttnWholeMaxBlocks, decode_attn_whole_fits).
  const int32_t* table = tables + static_cast<int64_t>(seq) * max_blocks;
  for (int i = threadIdx.x; i < max_blocks; i += W * 32) s_table[i] = table[i];
  const int n_ctx = context_lens[seq];
  const int64_t row = static_cast<int64_t>(n_kv_heads) * hd;
  constexpr int kStep = W * kU;
  const int p_warp = warp * kU;
  // This block's rounds of the warp: every P-th from its rank (the j-th at position pos0(j)).
  const int all_rounds = n_ctx > p_warp ? (n_ctx - p_warp + kStep - 1) / kStep : 0;
  const int n_rounds = all_rounds > rank ? (all_rounds - rank + P - 1) / P : 0;
  auto pos0 = [&](int j) { return (j * P + rank) * kStep + p_warp; };
  const uint32_t row_bytes = static_cast<uint32_t>(hd) * sizeof(T);

  // Round j's position for lane u < kU: its element offset in the caches, -1 past the context,
  // -2 for a block id outside the cache (never read; the row becomes NaN).
  auto locate = [&](int j) -> int64_t {
    const int p = pos0(j) + lane;
    if (lane >= kU || p >= n_ctx) return -1;
    const int bi = p / block_size;
    const int64_t blk = bi < max_blocks ? s_table[bi] : -1;
    if (blk < 0 || blk >= n_blocks) return -2;
    return (blk * block_size + (p - bi * block_size)) * row + static_cast<int64_t>(kvh) * hd;
  };
  // Round j's copies into slot j % R (lanes 0..kU-1, one position each). Before a refill the
  // lanes' reads of the slot are ordered before the copy engine's writes as in gemv_bulk.cu:
  // lane 0 arrives on the slot's "empty" barrier after the reads, the copying lanes wait for
  // it.
  // With tma (AttnSplit::kv_maps; head_dim == kHd, block_size a multiple of kU, so a round's
  // positions are consecutive in one page): lane 0 copies the round's K and V boxes.
  auto issue_box = [&](int j) {
    const int slot = j % R;
    uint64_t* bar = &s_bar[warp][slot];
    if (lane == 0) {
      const int p0 = pos0(j);
      const int bi = p0 / block_size;
      const int64_t blk = bi < max_blocks ? s_table[bi] : -1;
      const bool good = blk >= 0 && blk < n_blocks;
      const int left = n_ctx - p0;
      s_ok[warp][slot] = good ? (left >= kU ? (1u << kU) - 1u : (1u << left) - 1u) : 0u;
      if (!good) s_bad = 1;
      bulk_copy::arrive_expect_tx(bar, good ? 2u * kU * row_bytes : 0u);
      if (good) {
        if (j >= R) bulk_copy::wait(&s_empty[warp][slot], static_cast<uint32_t>(j / R - 1) & 1u);
        T* dst = s_kv + (warp * R + slot) * kSlot;
        const int y = static_cast<int>(blk * block_size + (p0 - bi * block_size));
        bulk_copy::copy_box_2d(dst, &kmap, kvh * hd, y, bar);
        bulk_copy::copy_box_2d(dst + kU * kHd, &vmap, kvh * hd, y, bar);
      }
    }
  };
  auto issue = [&](int j, int64_t off) {
    if (tma) {
      issue_box(j);
      return;
    }
    const int slot = j % R;
    const uint32_t ok = __ballot_sync(0xFFFFFFFFu, off >= 0);
    if (__any_sync(0xFFFFFFFFu, off == -2) && lane == 0) s_bad = 1;
    uint64_t* bar = &s_bar[warp][slot];
    if (lane == 0) {
      s_ok[warp][slot] = ok;
      bulk_copy::arrive_expect_tx(bar, static_cast<uint32_t>(__popc(ok)) * 2u * row_bytes);
    }
    __syncwarp();
    if (off >= 0) {
      if (j >= R) bulk_copy::wait(&s_empty[warp][slot], static_cast<uint32_t>(j / R - 1) & 1u);
      T* dst = s_kv + (warp * R + slot) * kSlot;
      bulk_copy::copy(dst + lane * kHd, kc + off, row_bytes, bar);
      bulk_copy::copy(dst + (kU + lane) * kHd, vc + off, row_bytes, bar);
    }
  };

  const float qscale = scale * 1.4426950408889634f;  // scores in log2 units
  float qv[G][HPL], acc[G][HPL];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const float* qh = q + (static_cast<int64_t>(seq) * n_heads + head0 + g) * hd;
#pragma unroll
    for (int i = 0; i < HPL; ++i) {
      qv[g][i] = active ? qh[lane * HPL + i] * qscale : 0.0f;
      acc[g][i] = 0.0f;
    }
  }
  __syncthreads();  // s_table
  for (int j = 0; j < R && j < n_rounds; ++j) issue(j, tma ? -1 : locate(j));
  float m[G], l[G];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
  }
  for (int j = 0; j < n_rounds; ++j) {
    const int slot = j % R;
    const int64_t next = j + R < n_rounds && !tma ? locate(j + R) : -1;
    bulk_copy::wait(&s_bar[warp][slot], static_cast<uint32_t>(j / R) & 1u);
    const uint32_t ok = s_ok[warp][slot];
    const T* src = s_kv + (warp * R + slot) * kSlot;
    float kf[kU][HPL], vf[kU][HPL];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
#pragma unroll
      for (int i = 0; i < HPL; ++i) kf[u][i] = vf[u][i] = 0.0f;
      if (((ok >> u) & 1u) == 0 || !active) continue;
      attn_kv_bulk::load_dims<T, HPL>(src + u * kHd + lane * HPL, kf[u]);
      attn_kv_bulk::load_dims<T, HPL>(src + (kU + u) * kHd + lane * HPL, vf[u]);
    }
    __syncwarp();  // every lane has read the slot before it is refilled
    if (lane == 0) bulk_copy::arrive(&s_empty[warp][slot]);
    if (j + R < n_rounds) issue(j + R, next);
    if (ok != 0) {
      const bool my_ok = (ok >> (lane >> attn_round::kShift<kU>)) & 1u;
#pragma unroll
      for (int g = 0; g < G; ++g) {
        attn_round::head<HPL, kU>(qv[g], kf, vf, my_ok, lane, m[g], l[g], acc[g]);
      }
    }
  }

  __syncthreads();  // every warp's ring read before s_acc takes its bytes
  if (lane == 0) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
      s_m[warp][g] = m[g];
      s_l[warp][g] = l[g];
    }
  }
#pragma unroll
  for (int g = 0; g < G; ++g) {
#pragma unroll
    for (int i = 0; i < HPL; ++i) s_acc[warp][g][lane * HPL + i] = acc[g][i];
  }
  __syncthreads();
  // Lane t of warp g < G: dims 4t .. 4t + 3 of head head0 + g (hd <= 128). (A constant 0 for
  // G = 1: the one-head kernel keeps its registers.)
  const int g = G == 1 ? 0 : warp;
  const int head = head0 + g;
  const int hd4 = hd / 4;
  const bool in = lane < hd4;
  float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
  float* const out_row = out + (static_cast<int64_t>(seq) * n_heads + head) * hd;
  if constexpr (P == 1) {
    if (warp >= G) return;  // (the chain's recorder, thread 0, goes on)
    if (in) {
      float mx, lsum, a[4];
      merge_warps<W, G, kHd>(s_m, s_l, s_acc, g, lane, mx, lsum, a);
      o = store_row(lsum, a, s_bad != 0, out_row, lane);
    }
  } else {
    // Each block's (max, sum, acc), then blocks 1..P-1's into block 0's shared memory.
    float mx = -INFINITY, lsum = 0.0f, a[4] = {0.f, 0.f, 0.f, 0.f};
    if (warp < G && in) merge_warps<W, G, kHd>(s_m, s_l, s_acc, g, lane, mx, lsum, a);
    int bad = s_bad;
    if (rank > 0 && warp < G) {
      float* slot = &s_peer[((rank - 1) * G + g) * kPeer];
      if (in) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          cluster::store_peer(cluster::peer_addr(&slot[4 * lane + k], 0), a[k]);
        }
      }
      if (lane == 0) {
        cluster::store_peer(cluster::peer_addr(&slot[kHd], 0), mx);
        cluster::store_peer(cluster::peer_addr(&slot[kHd + 1], 0), lsum);
        cluster::store_peer(cluster::peer_addr(&slot[kHd + 2], 0), bad != 0 ? 1.0f : 0.0f);
      }
    }
    cluster::sync();  // the other blocks' stores are in block 0's shared memory; they are done
    if (rank > 0) {
      MLXM_CHAIN_END();
      return;
    }
    if (warp >= G) return;
#pragma unroll
    for (int r = 0; r < P - 1; ++r) bad |= s_peer[(r * G + g) * kPeer + kHd + 2] != 0.0f;
    if (in) {
      float nm = mx;
#pragma unroll
      for (int r = 0; r < P - 1; ++r) nm = fmaxf(nm, s_peer[(r * G + g) * kPeer + kHd]);
      if (nm != -INFINITY) {
        const float c0 = exp2f(mx - nm);  // 0 for a block that saw nothing
        lsum *= c0;
#pragma unroll
        for (int k = 0; k < 4; ++k) a[k] *= c0;
#pragma unroll
        for (int r = 0; r < P - 1; ++r) {
          const float* peer = &s_peer[(r * G + g) * kPeer];
          const float c = exp2f(peer[kHd] - nm);
          lsum = fmaf(peer[kHd + 1], c, lsum);
#pragma unroll
          for (int k = 0; k < 4; ++k) a[k] = fmaf(peer[4 * lane + k], c, a[k]);
        }
      }
      o = store_row(lsum, a, bad != 0, out_row, lane);
    }
  }
  if (xq != nullptr) {
    const int width = n_heads * hd;
    quant_rows::store_block(o, in, static_cast<int64_t>(head) * hd4 + lane,
                            quant_rows::xq_row(xq, width, seq), quant_rows::xds_row(xq, width, seq),
                            perm4);
  }
  MLXM_CHAIN_END();
#endif
}

// The block shape: 16 warps with 2 rounds in flight each (128 KB of rings). Measured against 16
// warps with 3 rounds (the same), 8 warps with 6 (−9 %) and 24 warps with 2 (−5 %, spilling):
// runs 123–127.
constexpr int kWarps = 16;
constexpr int kRing = 2;
static_assert(kWholeMaxRegs * kWarps * 32 <= 65536, "a block's registers fit one SM");

template <typename T, int HPL, int P, int G>
Status launch(const float* q, const int32_t* tables, int max_blocks, const int32_t* ctx,
              int64_t n_seqs, int n_heads, const KvLayerView& kv, float scale, float* out,
              const XTarget& oq, const KvTensorMaps* maps, cudaStream_t stream) {
  constexpr int kMaxSmem =
      whole_launch_smem_bytes<T, HPL, kWarps, kRing>(detail::kDecodeAttnWholeMaxBlocks);
  const int smem = whole_launch_smem_bytes<T, HPL, kWarps, kRing>(max_blocks);
  auto kernel = paged_decode_whole_kernel<T, HPL, kWarps, kRing, P, G>;
  // Above the 48 KB a kernel gets without asking: raised once per instantiation, to what the
  // longest table takes.
  static const cudaError_t attr =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem);
  if (attr != cudaSuccess) {
    return internal_error(std::string("paged_attention_decode (whole): shared memory attribute: ") +
                          cudaGetErrorString(attr));
  }
  const unsigned grid = static_cast<unsigned>(n_seqs * (G == 1 ? n_heads : kv.n_kv_heads) * P);
  const cudaError_t e = pdl::launch_clusters(
      kernel, dim3(grid), P, dim3(kWarps * 32), smem, stream, q, tables, max_blocks, ctx,
      n_heads, static_cast<const T*>(kv.k), static_cast<const T*>(kv.v), kv.block_size,
      kv.n_kv_heads, kv.head_dim, kv.n_blocks, scale, out, oq.scratch, oq.bits == 4,
      maps != nullptr ? maps->k : TensorMapBytes{}, maps != nullptr ? maps->v : TensorMapBytes{},
      maps != nullptr);
  if (e != cudaSuccess) {
    return detail::cuda_status(e, "launch of paged_decode_whole_kernel", __FILE__, __LINE__);
  }
  MLXM_CUDA_CHECK_LAUNCH("paged_decode_whole_kernel");
  return ok_status();
}

// The launch for `parts` (1, 2, 3 or 4) blocks per (sequence, query head), or per (sequence, kv
// head) with its G query heads.
template <typename T, int HPL, int G>
Status launch_parts(int parts, const float* q, const int32_t* tables, int max_blocks,
                    const int32_t* ctx, int64_t n_seqs, int n_heads, const KvLayerView& kv,
                    float scale, float* out, const XTarget& oq, const KvTensorMaps* maps,
                    cudaStream_t stream) {
  if (parts == 4) {
    return launch<T, HPL, 4, G>(q, tables, max_blocks, ctx, n_seqs, n_heads, kv, scale, out, oq,
                                maps, stream);
  }
  if (parts == 3) {
    return launch<T, HPL, 3, G>(q, tables, max_blocks, ctx, n_seqs, n_heads, kv, scale, out, oq,
                                maps, stream);
  }
  return parts == 2 ? launch<T, HPL, 2, G>(q, tables, max_blocks, ctx, n_seqs, n_heads, kv,
                                           scale, out, oq, maps, stream)
                    : launch<T, HPL, 1, G>(q, tables, max_blocks, ctx, n_seqs, n_heads, kv,
                                           scale, out, oq, maps, stream);
}

// The launch for G query heads per block (1: one block per query head), every cache dtype and
// head width the kernel takes.
template <int G>
Status launch_whole(const float* q, const int32_t* tables, int max_blocks, const int32_t* ctx,
                    int64_t n_seqs, int n_heads, const KvLayerView& kv, float scale, float* out,
                    const XTarget& oq, const KvTensorMaps* maps, int parts,
                    cudaStream_t stream) {
  // Boxes land as head_dim-element rows: only where that is the staging's row (64, 128).
  const int hpl = kv.head_dim <= 64 ? 2 : 4;
  if (kv.head_dim != hpl * 32 || kv.block_size % kU != 0) maps = nullptr;
  const bool f16 = kv.dtype == DType::kF16;
  if (hpl == 2) {
    return f16 ? launch_parts<__half, 2, G>(parts, q, tables, max_blocks, ctx, n_seqs, n_heads,
                                            kv, scale, out, oq, maps, stream)
               : launch_parts<__nv_bfloat16, 2, G>(parts, q, tables, max_blocks, ctx, n_seqs,
                                                   n_heads, kv, scale, out, oq, maps, stream);
  }
  return f16 ? launch_parts<__half, 4, G>(parts, q, tables, max_blocks, ctx, n_seqs, n_heads, kv,
                                          scale, out, oq, maps, stream)
             : launch_parts<__nv_bfloat16, 4, G>(parts, q, tables, max_blocks, ctx, n_seqs,
                                                 n_heads, kv, scale, out, oq, maps, stream);
}

}  // namespace
}  // namespace whole_attn

}  // namespace mlxm::engine::cuda
