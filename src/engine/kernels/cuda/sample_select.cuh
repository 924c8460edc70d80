// Internal to kernels/cuda: the block-wide passes over a logit row that the device sampler
// (sample.cu) and the device logprobs (logprobs.cu) share: strided and chunked walks with
// kInFlight loads issued at once, the float order as unsigned keys, the row's adjustments, the
// cluster reductions (each block of a cluster of P walks its slice of the row and the cluster
// combines every reduction, so every block takes the same decisions) and the radix select.
// Anonymous inside: each including unit has its own copies.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/kernels/cuda/cluster.cuh"
#include "engine/kernels/cuda/cuda_sample.h"

namespace mlxm::engine::cuda::sample_select {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kBits = 4;  // radix digit of the selects: 8 passes over the row each
constexpr int kDigits = 1 << kBits;
constexpr float kMassScale = 0x1p40f;  // = engine::kRowMassScale
constexpr int kInFlight = 8;  // loads of the row each thread issues before using them

// f(v, i) for every element i of the row this thread takes (i = tid + k·kThreads), with
// kInFlight loads issued before their uses: a pass costs a few memory round trips of the block
// instead of one per element.
template <class F>
__device__ __forceinline__ void for_each_strided(const float* row, int n, F&& f) {
  int i = threadIdx.x;
  for (; i + (kInFlight - 1) * kThreads < n; i += kInFlight * kThreads) {
    float v[kInFlight];
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) v[j] = row[i + j * kThreads];
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) f(v[j], i + j * kThreads);
  }
  for (; i < n; i += kThreads) f(row[i], i);
}

// f(v, i) for i in [b, e) in order (one thread's contiguous chunk), kInFlight loads at a time;
// f returns false to stop.
template <class F>
__device__ __forceinline__ void for_each_in_chunk(const float* row, int b, int e, F&& f) {
  for (int i0 = b; i0 < e; i0 += kInFlight) {
    float v[kInFlight];
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) v[j] = i0 + j < e ? row[i0 + j] : 0.0f;
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) {
      if (i0 + j < e && !f(v[j], i0 + j)) return;
    }
  }
}

// A key whose unsigned order is the float order (no NaN here); -0 and +0 are one value.
__device__ __forceinline__ uint32_t ordered_key(float v) {
  uint32_t b = __float_as_uint(v);
  if ((b << 1) == 0u) b = 0u;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Step 1 of row_sampling.h, with the host's roundings (no contraction into an FMA).
__device__ __forceinline__ float apply_adjust(float v, const SampleAdjust& a) {
  v = __fadd_rn(v, a.add);
  if (a.rep != 1.0f) v = v > 0.0f ? __fdiv_rn(v, a.rep) : __fmul_rn(v, a.rep);
  return __fsub_rn(v, a.sub);
}

__device__ __forceinline__ uint64_t warp_sum_u64(uint64_t v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  return v;
}

__device__ __forceinline__ uint64_t warp_max_u64(uint64_t v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const uint64_t o = __shfl_xor_sync(0xFFFFFFFFu, v, off);
    v = o > v ? o : v;
  }
  return v;
}

constexpr int kSlots = kDigits;  // values one cluster reduction combines

// A block's shared memory.
struct Shared {
  uint64_t red[kWarps][kDigits];
  uint64_t tot[kSlots];       // a reduction's block totals, then (clusters) the cluster's
  uint64_t part[2][kSlots];   // the block totals peers read, alternating per reduction
  uint64_t buf[kWarps + 1];
  uint32_t key;
  int token;
};

// The row slice of this block: block `rank` of a cluster of P takes [lo, hi), the slices in
// rank order covering the row.
struct Slice {
  int lo, hi;
};

// tot[0..count) of every block of the cluster combined (sum, or max with kMax) into every
// block's tot, in rank order (every block gets the same values). P == 1: nothing to do.
template <int P, bool kMax = false>
__device__ __forceinline__ void cluster_combine(Shared& sh, int count, int& parity) {
  if constexpr (P > 1) {
    const int tid = threadIdx.x;
    if (tid < count) sh.part[parity][tid] = sh.tot[tid];
    cluster::sync();
    if (tid < count) {
      uint64_t t = 0;
#pragma unroll
      for (int r = 0; r < P; ++r) {
        const uint64_t v = cluster::load_peer_u64(cluster::peer_addr(&sh.part[parity][tid], r));
        t = kMax ? (v > t ? v : t) : t + v;
      }
      sh.tot[tid] = t;
    }
    parity ^= 1;  // the next reduction writes the other half: no peer still reads it
    __syncthreads();
  } else {
    (void)sh;
    (void)count;
    (void)parity;
  }
}

// Before a block of a cluster exits: no peer reads its shared memory any more.
template <int P>
__device__ __forceinline__ void cluster_done() {
  if constexpr (P > 1) cluster::sync();
}

// Sum over the block into sh.tot[0], then over the cluster; returned to every thread.
template <int P>
__device__ uint64_t reduce_sum(uint64_t v, Shared& sh, int& parity) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum_u64(v);
  if (lane == 0) sh.buf[warp] = v;
  __syncthreads();
  if (warp == 0) {
    uint64_t t = sh.buf[lane];  // kWarps == 32 lanes
    t = warp_sum_u64(t);
    if (lane == 0) sh.tot[0] = t;
  }
  __syncthreads();
  cluster_combine<P>(sh, 1, parity);
  const uint64_t r = sh.tot[0];
  __syncthreads();  // tot free again
  return r;
}

// The index of `token` among a spec's adjustments adjust[0, count) (sorted by token), or -1.
__device__ __forceinline__ int find_adjust(const SampleAdjust* adjust, int count, int token) {
  int lo = 0, hi = count;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (adjust[mid].token < token) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < count && adjust[lo].token == token ? lo : -1;
}

// The exclusive prefix sum of v over the cluster in (rank, thread) order, and in *total the
// cluster's sum: a scan per warp by shuffles, over the warps in sh.buf, over the ranks through
// sh.part (the lower ranks' totals first). Every thread of every block calls it.
template <int P>
__device__ uint64_t exclusive_prefix(uint64_t v, Shared& sh, int& parity, uint64_t* total) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  uint64_t incl = v;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const uint64_t o = __shfl_up_sync(0xFFFFFFFFu, incl, off);
    if (lane >= off) incl += o;
  }
  if (lane == 31) sh.buf[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    uint64_t t = sh.buf[lane];
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const uint64_t o = __shfl_up_sync(0xFFFFFFFFu, t, off);
      if (lane >= off) t += o;
    }
    sh.buf[lane] = t;
  }
  __syncthreads();
  uint64_t before_block = 0, sum = sh.buf[kWarps - 1];
  if constexpr (P > 1) {
    const int rank = static_cast<int>(cluster::rank());
    if (tid == 0) sh.part[parity][0] = sum;
    cluster::sync();
    sum = 0;
#pragma unroll
    for (int q = 0; q < P; ++q) {
      const uint64_t t = cluster::load_peer_u64(cluster::peer_addr(&sh.part[parity][0], q));
      before_block += q < rank ? t : 0;
      sum += t;
    }
    parity ^= 1;
  }
  *total = sum;
  return before_block + (warp > 0 ? sh.buf[warp - 1] : 0) + incl - v;
}

// The largest key K with Σ_{i : key(row[i]) >= K} weight(row[i]) >= target over the whole row
// (every block of the cluster its slice), digit by digit from the top (REQUIRES: the total
// weight >= target, so K = 0 qualifies). Each pass sums, for every digit d of the current
// position, the weight of the elements whose key is at least prefix | d << shift, and keeps
// the largest d that still reaches the target.
template <int P, class Weight>
__device__ uint32_t radix_select(const float* row, Slice sl, Weight weight, uint64_t target,
                                 Shared& sh, int& parity) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  uint32_t prefix = 0;
  for (int shift = 32 - kBits; shift >= 0; shift -= kBits) {
    uint64_t acc[kDigits];
#pragma unroll
    for (int d = 0; d < kDigits; ++d) acc[d] = 0;
    const uint64_t hi_p = static_cast<uint64_t>(prefix) >> (shift + kBits);
    uint64_t above = 0;  // the weight of the elements above the prefix: in every digit's sum
    for_each_strided(row + sl.lo, sl.hi - sl.lo, [&](float v, int) {
      const uint32_t k = ordered_key(v);
      const uint64_t hi_k = static_cast<uint64_t>(k) >> (shift + kBits);
      if (hi_k < hi_p) return;  // below the prefix: in no digit's sum (its weight not needed)
      const uint64_t wt = weight(v);
      if (hi_k > hi_p) {
        above += wt;
        return;
      }
      // Digits d in [1, c] have prefix | d << shift <= k.
      const int c = static_cast<int>((k >> shift) & (kDigits - 1));
#pragma unroll
      for (int d = 1; d < kDigits; ++d) acc[d] += d <= c ? wt : 0;
    });
#pragma unroll
    for (int d = 1; d < kDigits; ++d) acc[d] = warp_sum_u64(acc[d] + above);
    if (lane == 0) {
#pragma unroll
      for (int d = 0; d < kDigits; ++d) sh.red[warp][d] = acc[d];
    }
    __syncthreads();
    if (tid < kDigits) {
      uint64_t t = 0;
      for (int w = 0; w < kWarps; ++w) t += sh.red[w][tid];
      sh.tot[tid] = t;
    }
    __syncthreads();
    cluster_combine<P>(sh, kDigits, parity);
    if (tid == 0) {
      int best = 0;
      for (int d = kDigits - 1; d >= 1; --d) {
        if (sh.tot[d] >= target) {
          best = d;
          break;
        }
      }
      sh.key = prefix | (static_cast<uint32_t>(best) << shift);
    }
    __syncthreads();
    prefix = sh.key;
  }
  __syncthreads();  // key, red, tot free again
  return prefix;
}

// Whether the kernels may run as clusters here: sm_90+, unless MLXM_CUDA_SAMPLE_CLUSTER=0.
bool clusters_on() {
  static const bool on = [] {
    const char* env = std::getenv("MLXM_CUDA_SAMPLE_CLUSTER");
    if (env != nullptr && std::string(env) == "0") return false;
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    return major >= 9;
  }();
  return on;
}

// A launch of n_specs clusters of P blocks of kThreads along x (P == 1: plain blocks); attr:
// its storage.
template <int P>
cudaLaunchConfig_t cluster_launch(int64_t n_specs, Stream stream, cudaLaunchAttribute& attr) {
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = P;
  attr.val.clusterDim.y = 1;
  attr.val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(n_specs * P));
  cfg.blockDim = dim3(kThreads);
  cfg.stream = stream;
  cfg.attrs = &attr;
  cfg.numAttrs = P > 1 ? 1 : 0;
  return cfg;
}

}  // namespace
}  // namespace mlxm::engine::cuda::sample_select
