// Logprobs on the device (cuda_sample.h), after sample_rows: one cluster of P blocks (one block
// where P == 1) per row, each block walking its slice of the row with sample_select.cuh's
// passes:
//   1. raw rows get their adjusted logits back from what save_raw_logits kept;
//   2. the max m;
//   3. Z = the sum of the integer masses floor(exp(v - m) · 2^40) (exact, so in any order: the
//      result does not depend on the cluster size), lse = m + log(Z · 2^-40);
//   4. the n_top-th largest key K by radix select; the tokens above K and the lowest-id ones
//      at K, gathered in token order into rank 0's shared memory (a prefix scan gives each its
//      place), where thread 0 sorts them (at most 20) and writes value - lse.
// The host twin is engine::row_logprobs() (fill_logprobs): the same tokens, and logprobs within
// a few 1e-7 of its (exp and the masses' rounding).
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

__global__ void save_raw_kernel(const float* __restrict__ x, int64_t n_rows, int n,
                                const LogprobRowSpec* __restrict__ specs,
                                const SampleAdjust* __restrict__ adjust,
                                float* __restrict__ saved) {
  const LogprobRowSpec s = specs[blockIdx.x];
  if (s.raw == 0 || s.row < 0 || s.row >= n_rows) return;
  const float* row = x + static_cast<int64_t>(s.row) * n;
  for (int k = threadIdx.x; k < s.adjust_count; k += blockDim.x) {
    const int t = adjust[s.adjust_begin + k].token;
    if (t >= 0 && t < n) saved[s.adjust_begin + k] = row[t];
  }
}

// The float of an ordered key (ordered_key's inverse; -0 comes back as +0).
__device__ __forceinline__ float key_value(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}

// Rank 0's gathered tokens: values and ids, in token order until sorted.
struct Gathered {
  float v[kLogprobTop];
  int32_t id[kLogprobTop];
};

// Entry i of rank 0's gathered tokens (a peer store from the other ranks).
template <int P>
__device__ __forceinline__ void put(Gathered& g, int i, float v, int32_t id) {
  if constexpr (P == 1) {
    g.v[i] = v;
    g.id[i] = id;
  } else {
    cluster::store_peer(cluster::peer_addr(&g.v[i], 0), v);
    cluster::store_peer(cluster::peer_addr(&g.id[i], 0), __int_as_float(id));
  }
}

// The token's value as the spec sees it: the row's (adjusted in place) unless raw and adjusted,
// then the saved raw logit (the adjustments are sorted by token).
__device__ float token_value(const float* row, const LogprobRowSpec& s,
                             const SampleAdjust* adjust, const float* saved, int token) {
  const int k = s.raw != 0 ? find_adjust(adjust + s.adjust_begin, s.adjust_count, token) : -1;
  return k >= 0 ? saved[s.adjust_begin + k] : row[token];
}

template <int P>
__global__ void __launch_bounds__(kThreads)
    logprob_rows_kernel(float* __restrict__ x, int64_t n_rows, int n,
                        const LogprobRowSpec* __restrict__ specs,
                        const SampleAdjust* __restrict__ adjust, const float* __restrict__ saved,
                        const int32_t* __restrict__ ids, LogprobRowOut* __restrict__ out) {
  __shared__ Shared sh;
  __shared__ Gathered g;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int rank = P > 1 ? static_cast<int>(cluster::rank()) : 0;
  const int j = static_cast<int>(blockIdx.x) / P;
  const LogprobRowSpec s = specs[j];
  const int32_t token = s.row >= 0 && s.row < n_rows ? ids[s.spec] : -1;
  if (token < 0 || token >= n) {  // every block of the cluster leaves here
    if (tid == 0 && rank == 0) {
      out[j].n_top = -1;
      out[j].logprob = NAN;
    }
    return;
  }
  float* row = x + static_cast<int64_t>(s.row) * n;
  const int per = (n + P - 1) / P;
  const Slice sl{min(n, rank * per), min(n, (rank + 1) * per)};
  int parity = 0;

  // 1. Raw rows: the logits before the adjustments, in the block's slice.
  if (s.raw != 0) {
    for (int k = tid; k < s.adjust_count; k += kThreads) {
      const int t = adjust[s.adjust_begin + k].token;
      if (t >= sl.lo && t < sl.hi) row[t] = saved[s.adjust_begin + k];
    }
  }
  __syncthreads();

  // 2. The max.
  uint64_t best = 0;
  for_each_strided(row + sl.lo, sl.hi - sl.lo, [&](float v, int) {
    const uint64_t k = ordered_key(v);
    best = k > best ? k : best;
  });
  best = warp_max_u64(best);
  if (lane == 0) sh.buf[warp] = best;
  __syncthreads();
  if (warp == 0) {
    const uint64_t t = warp_max_u64(sh.buf[lane]);
    if (lane == 0) sh.tot[0] = t;
  }
  __syncthreads();
  cluster_combine<P, true>(sh, 1, parity);
  const float m = key_value(static_cast<uint32_t>(sh.tot[0]));
  __syncthreads();

  // 3. lse (+inf for a row of -inf only: every logprob is -inf, as on the host).
  double lse = INFINITY;
  if (m != -INFINITY) {
    uint64_t z = 0;
    for_each_strided(row + sl.lo, sl.hi - sl.lo, [&](float v, int) {
      z += __float2ull_rz(__fmul_rn(expf(__fsub_rn(v, m)), kMassScale));
    });
    z = reduce_sum<P>(z, sh, parity);  // >= 2^40: the max's own mass
    lse = static_cast<double>(m) + log(__ull2double_rn(z) * 0x1p-40);
  }

  // 4. The n_top most likely tokens.
  const int n_top = s.n_top < n ? s.n_top : n;
  if (n_top > 0) {
    const uint32_t key =
        radix_select<P>(row, sl, [](float) -> uint64_t { return 1u; },
                        static_cast<uint64_t>(n_top), sh, parity);
    // Per thread, in its chunk [b, e): (tokens above the key) << 32 | (tokens at it).
    const int len = sl.hi - sl.lo;
    const int chunk = (len + kThreads - 1) / kThreads;
    const int b = sl.lo + min(len, tid * chunk), e = sl.lo + min(len, tid * chunk + chunk);
    uint64_t cnt = 0;
    for_each_in_chunk(row, b, e, [&](float v, int) {
      const uint32_t k = ordered_key(v);
      cnt += k > key ? (uint64_t{1} << 32) : (k == key ? 1u : 0u);
      return true;
    });
    // Exclusive prefix in token order over the cluster; the halves never carry (at most 2^31
    // tokens).
    uint64_t total = 0;
    const uint64_t before = exclusive_prefix<P>(cnt, sh, parity, &total);
    const int n_above = static_cast<int>(total >> 32);  // < n_top (radix_select's key)
    const int need = n_top - n_above;                   // the lowest ids at the key
    int above = static_cast<int>(before >> 32);
    int at = static_cast<int>(before & 0xFFFFFFFFu);
    if (cnt != 0) {
      for_each_in_chunk(row, b, e, [&](float v, int i) {
        const uint32_t k = ordered_key(v);
        if (k > key) {
          put<P>(g, above++, v, i);
        } else if (k == key && at < need) {
          put<P>(g, n_above + at++, v, i);
        }
        return above < n_above || at < need;
      });
    }
    if constexpr (P > 1) {
      cluster::sync();  // the peers' stores are in rank 0's g; no block reads a peer any more
    } else {
      __syncthreads();
    }
  } else {
    cluster_done<P>();  // no block leaves while a peer may read its shared memory
  }
  if (rank != 0 || tid != 0) return;
  // Sorted by value (descending), then id: insertion sort of at most kLogprobTop.
  for (int a = 1; a < n_top; ++a) {
    const float v = g.v[a];
    const int32_t id = g.id[a];
    int c = a;
    for (; c > 0 && (g.v[c - 1] < v || (g.v[c - 1] == v && g.id[c - 1] > id)); --c) {
      g.v[c] = g.v[c - 1];
      g.id[c] = g.id[c - 1];
    }
    g.v[c] = v;
    g.id[c] = id;
  }
  LogprobRowOut& o = out[j];
  for (int a = 0; a < n_top; ++a) {
    o.ids[a] = g.id[a];
    o.logprobs[a] = static_cast<float>(static_cast<double>(g.v[a]) - lse);
  }
  o.n_top = n_top;
  o.logprob = static_cast<float>(
      static_cast<double>(token_value(row, s, adjust, saved, token)) - lse);
}

// Blocks per row where the rows leave SMs idle (as sample_rows' clusters, up to the portable
// 8): 8 up to 16 rows, 4 up to 32, 2 up to 64; else 1.
int logprob_cluster(int64_t n_specs) {
  if (!clusters_on()) return 1;
  return n_specs <= 16 ? 8 : n_specs <= 32 ? 4 : n_specs <= 64 ? 2 : 1;
}

template <int P>
cudaError_t launch_logprobs(float* x, int64_t n_rows, int vocab, const LogprobRowSpec* specs,
                            int64_t n_specs, const SampleAdjust* adjust, const float* saved,
                            const int32_t* ids, LogprobRowOut* out, Stream stream) {
  cudaLaunchAttribute attr;
  const cudaLaunchConfig_t cfg = cluster_launch<P>(n_specs, stream, attr);
  return cudaLaunchKernelEx(&cfg, logprob_rows_kernel<P>, x, n_rows, vocab, specs, adjust, saved,
                            ids, out);
}

}  // namespace

Status save_raw_logits(const float* x, int64_t n_rows, int64_t vocab,
                       const LogprobRowSpec* specs, int64_t n_specs, const SampleAdjust* adjust,
                       float* saved, Stream stream) {
  if (n_rows < 0 || n_specs < 0 || vocab <= 0 || vocab > INT_MAX) {
    return invalid_argument("cuda::save_raw_logits: bad shape");
  }
  if (n_specs == 0) return ok_status();
  if (x == nullptr || specs == nullptr || adjust == nullptr || saved == nullptr) {
    return invalid_argument("cuda::save_raw_logits: null pointer");
  }
  if (n_specs > 0x7FFFFFFF) return invalid_argument("cuda::save_raw_logits: too many rows");
  save_raw_kernel<<<static_cast<unsigned>(n_specs), 256, 0, stream>>>(
      x, n_rows, static_cast<int>(vocab), specs, adjust, saved);
  MLXM_CUDA_CHECK_LAUNCH("save_raw_kernel");
  return ok_status();
}

Status logprob_rows(float* x, int64_t n_rows, int64_t vocab, const LogprobRowSpec* specs,
                    int64_t n_specs, const SampleAdjust* adjust, const float* saved,
                    const int32_t* ids, LogprobRowOut* out, Stream stream) {
  if (n_rows < 0 || n_specs < 0 || vocab <= 0 || vocab > INT_MAX - kThreads) {
    return invalid_argument("cuda::logprob_rows: bad shape");
  }
  if (n_specs == 0) return ok_status();
  if (x == nullptr || specs == nullptr || ids == nullptr || out == nullptr) {
    return invalid_argument("cuda::logprob_rows: null pointer");
  }
  if (n_specs > 0x7FFFFFFF) return invalid_argument("cuda::logprob_rows: too many rows");
  const int v = static_cast<int>(vocab);
  const int p = logprob_cluster(n_specs);
  const cudaError_t e =
      p == 8   ? launch_logprobs<8>(x, n_rows, v, specs, n_specs, adjust, saved, ids, out, stream)
      : p == 4 ? launch_logprobs<4>(x, n_rows, v, specs, n_specs, adjust, saved, ids, out, stream)
      : p == 2 ? launch_logprobs<2>(x, n_rows, v, specs, n_specs, adjust, saved, ids, out, stream)
               : launch_logprobs<1>(x, n_rows, v, specs, n_specs, adjust, saved, ids, out,
                                    stream);
  MLXM_CUDA_TRY(e);
  MLXM_CUDA_CHECK_LAUNCH("logprob_rows_kernel");
  return ok_status();
}

}  // namespace mlxm::engine::cuda
