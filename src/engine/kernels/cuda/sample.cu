// Token sampling on the device, one block of 1024 threads per row: adjustments, max, min_p,
// top_k by radix select, top_p by radix select on the integer mass, then the draw by a
// block-wide prefix scan in token order. Every pass over the row issues kInFlight loads per
// thread before using them (bench/NOTES.md run 223). The algorithm and its integers are those of
// engine/row_sampling.h (sample_row() is the host twin); no sort, no atomics: every sum is an
// integer sum, so the result is deterministic. The passes are sample_select.cuh's.
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>

#include "engine/kernels/cuda/cluster.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_sample.h"
#include "engine/kernels/cuda/sample_select.cuh"

namespace mlxm::engine::cuda {

namespace {

using namespace sample_select;  // NOLINT(google-build-using-namespace): the kernels' toolkit

// A spec's pending token (with_token() in engine/row_sampling.cpp, with its float operations):
// `entry` is what its adjustment becomes, at `index` in the spec's list, kPendingNew when the
// list lacks the token, kPendingNone when nothing changes. Every thread computes it (a binary
// search over the spec's adjustments, from L2).
constexpr int kPendingNone = -1;
constexpr int kPendingNew = -2;
struct Pending {
  int index;
  SampleAdjust entry;
};
__device__ Pending find_pending(const SampleRowSpec& s, const SampleAdjust* adjust,
                                const int32_t* prev_ids, int n) {
  Pending p{kPendingNone, {}};
  if (s.pending_row < 0 || prev_ids == nullptr) return p;
  const int32_t t = prev_ids[s.pending_row];
  const bool pen = s.pending_freq != 0.0f || s.pending_presence != 0.0f;
  if (t < 0 || t >= n || (s.pending_rep == 1.0f && !pen)) return p;  // an error code: dropped
  const int k = find_adjust(adjust + s.adjust_begin, s.adjust_count, t);
  p.index = k >= 0 ? k : kPendingNew;
  if (k >= 0) p.entry = adjust[s.adjust_begin + k];
  p.entry.token = t;
  if (s.pending_rep != 1.0f) p.entry.rep = s.pending_rep;
  if (pen) {
    p.entry.count += 1;
    p.entry.sub = __fadd_rn(__fmul_rn(s.pending_freq, static_cast<float>(p.entry.count)),
                            s.pending_presence);
  }
  return p;
}

// One spec per cluster of P blocks (P == 1: per block); block `rank` takes the rank-th slice
// of the row in every pass, and the cluster combines each reduction (cluster_combine), so every
// block takes the same decisions and the result is the single block's.
template <int P>
__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(float* __restrict__ x, int64_t n_rows, int n,
                       const SampleRowSpec* __restrict__ specs,
                       const SampleAdjust* __restrict__ adjust, int32_t* __restrict__ ids,
                       const int32_t* __restrict__ prev_ids) {
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
  // logit). A pending token (with_token()) changes its entry, or adds one.
  const Pending pend = find_pending(s, adjust, prev_ids, n);
  for (int j = tid; j < s.adjust_count; j += kThreads) {
    SampleAdjust a = adjust[s.adjust_begin + j];
    if (j == pend.index) a = pend.entry;
    if (a.token >= sl.lo && a.token < sl.hi) row[a.token] = apply_adjust(row[a.token], a);
  }
  if (tid == 0 && pend.index == kPendingNew && pend.entry.token >= sl.lo &&
      pend.entry.token < sl.hi) {
    row[pend.entry.token] = apply_adjust(row[pend.entry.token], pend.entry);
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
  if (tid == 0) sh.token = -1;
  uint64_t z3 = 0;  // the cluster's kept mass
  const uint64_t before = exclusive_prefix<P>(sum, sh, parity, &z3);
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

__global__ void mask_rows_kernel(float* __restrict__ x, int64_t n_rows, int n,
                                 const SampleRowSpec* __restrict__ specs,
                                 const uint64_t* __restrict__ masks) {
  const SampleRowSpec s = specs[blockIdx.x];
  if (s.mask < 0 || s.row < 0 || s.row >= n_rows) return;
  const int words = (n + 63) / 64;
  const uint64_t* m = masks + static_cast<int64_t>(s.mask) * words;
  float* row = x + static_cast<int64_t>(s.row) * n;
  for (int w = threadIdx.x; w < words; w += blockDim.x) {
    for (uint64_t off = ~m[w]; off != 0; off &= off - 1) {
      const int i = w * 64 + __ffsll(static_cast<long long>(off)) - 1;
      if (i < n) row[i] = -INFINITY;
    }
  }
}

// Whether clusters of 16 (beyond the portable 8) can run sample_rows_kernel<16> here.
bool cluster16_fits() {
  if (cudaFuncSetAttribute(sample_rows_kernel<16>, cudaFuncAttributeNonPortableClusterSizeAllowed,
                           1) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  cudaLaunchAttribute attr;
  const cudaLaunchConfig_t cfg = cluster_launch<16>(1, nullptr, attr);
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
  const bool on = clusters_on();
  if (!on) return 1;
  static const bool c16 = cluster16_fits();
  if (c16 && n_specs <= 8) return 16;
  return n_specs <= 16 ? 8 : n_specs <= 32 ? 4 : n_specs <= 64 ? 2 : 1;
}

template <int P>
cudaError_t launch_sample(float* x, int64_t n_rows, int vocab, const SampleRowSpec* specs,
                          int64_t n_specs, const SampleAdjust* adjust, int32_t* ids,
                          Stream stream, const int32_t* prev_ids) {
  cudaLaunchAttribute attr;
  const cudaLaunchConfig_t cfg = cluster_launch<P>(n_specs, stream, attr);
  return cudaLaunchKernelEx(&cfg, sample_rows_kernel<P>, x, n_rows, vocab, specs, adjust, ids,
                            prev_ids);
}

}  // namespace

Status mask_rows(float* x, int64_t n_rows, int64_t vocab, const SampleRowSpec* specs,
                 int64_t n_specs, const uint64_t* masks, Stream stream) {
  if (n_rows < 0 || n_specs < 0 || vocab <= 0 || vocab > INT_MAX - 64) {
    return invalid_argument("cuda::mask_rows: bad shape");
  }
  if (n_specs == 0) return ok_status();
  if (x == nullptr || specs == nullptr || masks == nullptr) {
    return invalid_argument("cuda::mask_rows: null pointer");
  }
  if (n_specs > 0x7FFFFFFF) return invalid_argument("cuda::mask_rows: too many rows");
  mask_rows_kernel<<<static_cast<unsigned>(n_specs), 256, 0, stream>>>(
      x, n_rows, static_cast<int>(vocab), specs, masks);
  MLXM_CUDA_CHECK_LAUNCH("mask_rows_kernel");
  return ok_status();
}

Status sample_rows(float* x, int64_t n_rows, int64_t vocab, const SampleRowSpec* specs,
                   int64_t n_specs, const SampleAdjust* adjust, int32_t* ids, Stream stream,
                   const int32_t* prev_ids) {
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
      p == 16  ? launch_sample<16>(x, n_rows, v, specs, n_specs, adjust, ids, stream, prev_ids)
      : p == 8 ? launch_sample<8>(x, n_rows, v, specs, n_specs, adjust, ids, stream, prev_ids)
      : p == 4 ? launch_sample<4>(x, n_rows, v, specs, n_specs, adjust, ids, stream, prev_ids)
      : p == 2 ? launch_sample<2>(x, n_rows, v, specs, n_specs, adjust, ids, stream, prev_ids)
               : launch_sample<1>(x, n_rows, v, specs, n_specs, adjust, ids, stream, prev_ids);
  MLXM_CUDA_TRY(e);
  MLXM_CUDA_CHECK_LAUNCH("sample_rows_kernel");
  return ok_status();
}

}  // namespace mlxm::engine::cuda
