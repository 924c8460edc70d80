// Token sampling on the device, one block of 1024 threads per row: adjustments, max, min_p,
// top_k by radix select, top_p by radix select on the integer mass, then the draw by a
// block-wide prefix scan in token order. Every pass over the row issues kInFlight loads per
// thread before using them (bench/NOTES.md run 223). The algorithm and its integers are those of
// engine/row_sampling.h (sample_row() is the host twin); no sort, no atomics: every sum is an
// integer sum, so the result is deterministic.
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/kernels/cuda/cluster.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_sample.h"

namespace mlxm::engine::cuda {

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

// One spec per cluster of P blocks (P == 1: per block); block `rank` takes the rank-th slice
// of the row in every pass, and the cluster combines each reduction (cluster_combine), so every
// block takes the same decisions and the result is the single block's.
template <int P>
__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(float* __restrict__ x, int64_t n_rows, int n,
                       const SampleRowSpec* __restrict__ specs,
                       const SampleAdjust* __restrict__ adjust, int32_t* __restrict__ ids) {
  __shared__ Shared sh;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int rank = P > 1 ? static_cast<int>(cluster::rank()) : 0;
  const int spec = static_cast<int>(blockIdx.x) / P;
  const SampleRowSpec s = specs[spec];
  if (s.row < 0 || s.row >= n_rows) {  // every block of the cluster leaves here
    if (tid == 0 && rank == 0) ids[spec] = kSampleBadRow;
    return;
  }
  float* row = x + static_cast<int64_t>(s.row) * n;
  const int per = (n + P - 1) / P;
  const Slice sl{min(n, rank * per), min(n, (rank + 1) * per)};
  int parity = 0;

  // 1. Adjustments in the block's slice, in place (distinct tokens: no two threads touch one
  // logit).
  for (int j = tid; j < s.adjust_count; j += kThreads) {
    const SampleAdjust a = adjust[s.adjust_begin + j];
    if (a.token >= sl.lo && a.token < sl.hi) row[a.token] = apply_adjust(row[a.token], a);
  }
  __syncthreads();

  // 2-3. Max (lowest index among equals; NaN never wins) and the NaN / +inf check: the largest
  // (ordered value, ~index) pair.
  uint64_t best = 0;
  bool bad = false;
  for_each_strided(row + sl.lo, sl.hi - sl.lo, [&](float v, int i) {
    bad |= (v != v) || (v == INFINITY);
    const uint64_t k = static_cast<uint64_t>(ordered_key(v)) << 32 |
                       (0xFFFFFFFFu - static_cast<uint32_t>(sl.lo + i));
    best = k > best ? k : best;
  });
  bad = __syncthreads_or(bad);
  best = warp_max_u64(best);
  if (lane == 0) sh.buf[warp] = best;
  __syncthreads();
  if (warp == 0) {
    const uint64_t t = warp_max_u64(sh.buf[lane]);
    if (lane == 0) {
      sh.tot[0] = t;
      sh.tot[1] = bad ? 1u : 0u;
    }
  }
  __syncthreads();
  cluster_combine<P, true>(sh, 2, parity);  // also: every block's adjustments are visible
  const bool any_bad = sh.tot[1] != 0;
  const int argmax = static_cast<int>(0xFFFFFFFFu - static_cast<uint32_t>(sh.tot[0]));
  __syncthreads();
  if (any_bad) {
    if (tid == 0 && rank == 0) ids[spec] = kSampleBadLogits;
    cluster_done<P>();
    return;
  }
  const float m = row[argmax];
  if (m == -INFINITY) {
    if (tid == 0 && rank == 0) ids[spec] = kSampleAllNegInf;
    cluster_done<P>();
    return;
  }
  if (s.greedy) {
    if (tid == 0 && rank == 0) ids[spec] = argmax;
    cluster_done<P>();
    return;
  }

  // 4. Integer masses, recomputed where needed (the row does not fit in shared memory).
  const float inv_t = s.inv_t;
  auto mass = [m, inv_t](float v) -> uint64_t {
    const float p = expf(__fmul_rn(__fsub_rn(v, m), inv_t));
    return __float2ull_rz(__fmul_rn(p, kMassScale));
  };
  // 5. min_p.
  const float t_min = __fadd_rn(m, __fmul_rn(s.temperature, s.log_min_p));
  // 6. top_k: the key of the k-th largest candidate, when there are more than k.
  uint32_t key_k = 0;
  if (s.top_k > 0) {
    uint64_t c = 0;
    for_each_strided(row + sl.lo, sl.hi - sl.lo, [&](float v, int) { c += v >= t_min ? 1u : 0u; });
    c = reduce_sum<P>(c, sh, parity);
    if (c > static_cast<uint64_t>(s.top_k)) {
      key_k = radix_select<P>(
          row, sl, [t_min](float v) -> uint64_t { return v >= t_min ? 1u : 0u; },
          static_cast<uint64_t>(s.top_k), sh, parity);
    }
  }
  auto in2 = [t_min, key_k](float v) { return v >= t_min && ordered_key(v) >= key_k; };
  // 7. top_p: the key of the nucleus edge.
  uint32_t key_p = 0;
  if (s.top_p < 1.0f) {
    uint64_t z2 = 0;
    for_each_strided(row + sl.lo, sl.hi - sl.lo, [&](float v, int) {
      if (in2(v)) z2 += mass(v);
    });
    z2 = reduce_sum<P>(z2, sh, parity);
    uint64_t target = static_cast<uint64_t>(
        ceil(__dmul_rn(static_cast<double>(s.top_p), __ull2double_rn(z2))));
    if (target > z2) target = z2;
    key_p = radix_select<P>(
        row, sl, [&](float v) -> uint64_t { return in2(v) ? mass(v) : 0u; }, target, sh, parity);
  }
  auto in3 = [&](float v) { return in2(v) && ordered_key(v) >= key_p; };

  // 8. The draw: thread t of block r owns tokens [b, e) of the slice; an exclusive scan of the
  // per-thread masses (the lower ranks' totals first) finds the thread holding the r-th unit
  // of mass, which walks its tokens.
  const int len = sl.hi - sl.lo;
  const int chunk = (len + kThreads - 1) / kThreads;
  const int b = sl.lo + min(len, tid * chunk), e = sl.lo + min(len, tid * chunk + chunk);
  uint64_t sum = 0;
  for_each_in_chunk(row, b, e, [&](float v, int) {
    if (in3(v)) sum += mass(v);
    return true;
  });
  uint64_t incl = sum;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const uint64_t o = __shfl_up_sync(0xFFFFFFFFu, incl, off);
    if (lane >= off) incl += o;
  }
  if (lane == 31) sh.buf[warp] = incl;
  if (tid == 0) sh.token = -1;
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
  // The block's total, then the lower ranks' (before_block) and the cluster's (z3).
  uint64_t before_block = 0, z3 = sh.buf[kWarps - 1];
  if constexpr (P > 1) {
    if (tid == 0) sh.part[parity][0] = z3;
    cluster::sync();
    z3 = 0;
#pragma unroll
    for (int q = 0; q < P; ++q) {
      const uint64_t t = cluster::load_peer_u64(cluster::peer_addr(&sh.part[parity][0], q));
      before_block += q < rank ? t : 0;
      z3 += t;
    }
    parity ^= 1;
  }
  const uint64_t before = before_block + (warp > 0 ? sh.buf[warp - 1] : 0) + incl - sum;
  // z3 >= 2^40: the max token is always kept.
  uint64_t r = static_cast<uint64_t>(floor(__dmul_rn(s.u, __ull2double_rn(z3))));
  if (r >= z3) r = z3 - 1;
  if (sum > 0 && before <= r && r < before + sum) {
    uint64_t cum = before;
    for_each_in_chunk(row, b, e, [&](float v, int i) {
      if (!in3(v)) return true;
      cum += mass(v);
      if (cum <= r) return true;
      sh.token = i;
      return false;
    });
  }
  __syncthreads();
  // The token (+1) of the block that drew it, 0 elsewhere; max over the cluster. 0 cannot
  // happen (the masses are recomputed bit-identically); the argmax keeps a token valid if it
  // ever did.
  if (tid == 0) sh.tot[0] = static_cast<uint64_t>(sh.token + 1);
  __syncthreads();
  cluster_combine<P, true>(sh, 1, parity);
  if (tid == 0 && rank == 0) {
    ids[spec] = sh.tot[0] > 0 ? static_cast<int32_t>(sh.tot[0] - 1) : argmax;
  }
  cluster_done<P>();
}

// A launch of sample_rows_kernel<P> for n_specs specs (clusters of P blocks along x when
// P > 1); attr: its storage.
template <int P>
cudaLaunchConfig_t sample_launch(int64_t n_specs, Stream stream, cudaLaunchAttribute& attr) {
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

// Whether clusters of 16 (beyond the portable 8) can run sample_rows_kernel<16> here.
bool cluster16_fits() {
  if (cudaFuncSetAttribute(sample_rows_kernel<16>, cudaFuncAttributeNonPortableClusterSizeAllowed,
                           1) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  cudaLaunchAttribute attr;
  const cudaLaunchConfig_t cfg = sample_launch<16>(1, nullptr, attr);
  int n = 0;
  if (cudaOccupancyMaxActiveClusters(&n, sample_rows_kernel<16>, &cfg) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return n > 0;
}

// Blocks per spec where the specs leave SMs idle (sm_90+, unless MLXM_CUDA_SAMPLE_CLUSTER=0):
// a cluster of 16 for up to 8 specs where one fits (bench/NOTES.md run 226), 8 up to 16 specs,
// 4 up to 32, 2 up to 64; else 1.
int cluster_size(int64_t n_specs) {
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
  if (!on) return 1;
  static const bool c16 = cluster16_fits();
  if (c16 && n_specs <= 8) return 16;
  return n_specs <= 16 ? 8 : n_specs <= 32 ? 4 : n_specs <= 64 ? 2 : 1;
}

template <int P>
cudaError_t launch_sample(float* x, int64_t n_rows, int vocab, const SampleRowSpec* specs,
                          int64_t n_specs, const SampleAdjust* adjust, int32_t* ids,
                          Stream stream) {
  cudaLaunchAttribute attr;
  const cudaLaunchConfig_t cfg = sample_launch<P>(n_specs, stream, attr);
  return cudaLaunchKernelEx(&cfg, sample_rows_kernel<P>, x, n_rows, vocab, specs, adjust, ids);
}

}  // namespace

Status sample_rows(float* x, int64_t n_rows, int64_t vocab, const SampleRowSpec* specs,
                   int64_t n_specs, const SampleAdjust* adjust, int32_t* ids, Stream stream) {
  if (n_rows < 0 || n_specs < 0 || vocab <= 0 || vocab > INT_MAX - kThreads) {
    return invalid_argument("cuda::sample_rows: bad shape");
  }
  if (n_specs == 0) return ok_status();
  if (x == nullptr || specs == nullptr || ids == nullptr) {
    return invalid_argument("cuda::sample_rows: null pointer");
  }
  if (n_specs > 0x7FFFFFFF) return invalid_argument("cuda::sample_rows: too many rows");
  const int v = static_cast<int>(vocab);
  const int p = cluster_size(n_specs);
  const cudaError_t e =
      p == 16  ? launch_sample<16>(x, n_rows, v, specs, n_specs, adjust, ids, stream)
      : p == 8 ? launch_sample<8>(x, n_rows, v, specs, n_specs, adjust, ids, stream)
      : p == 4 ? launch_sample<4>(x, n_rows, v, specs, n_specs, adjust, ids, stream)
      : p == 2 ? launch_sample<2>(x, n_rows, v, specs, n_specs, adjust, ids, stream)
               : launch_sample<1>(x, n_rows, v, specs, n_specs, adjust, ids, stream);
  MLXM_CUDA_TRY(e);
  MLXM_CUDA_CHECK_LAUNCH("sample_rows_kernel");
  return ok_status();
}

}  // namespace mlxm::engine::cuda
