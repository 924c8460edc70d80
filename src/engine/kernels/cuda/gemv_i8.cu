// Int8-activation GEMV for MLX affine 4/8-bit weights with F16/BF16 scales (gemv_i8.cuh):
// y (n, n_out) = x (n, n_in) · Wᵀ (+ bias), n = 1..8, two launches.
//
// 1. quantize_x_kernel, one warp per 32-block of one row of x: d = max|x|/127,
//    q = round(x/d) clamped to ±127 (int8), and the f32 sum of the block's 32 values, into
//    the scratch buffer (layout below). For 4-bit weights the bytes of every 8 values are
//    stored in dp4a order [x0 x2 x4 x6 | x1 x3 x5 x7], matching the codes a weight word yields
//    as bytes: w & 0x0F0F0F0F = codes 0,2,4,6 and (w >> 4) & 0x0F0F0F0F = codes 1,3,5,7.
//    8-bit codes are bytes already (natural order).
// 2. gemv_i8_kernel: per 32-block (16 bytes of 4-bit codes or 32 bytes of 8-bit codes, always
//    inside one quantization group since groups are 32/64/128), row o, activation row j:
//      Σ_i (s·c_i + b)·x_i ≈ s·d_j·Σ_i c_i·q_ji + b·Σ_i x_ji
//    with the integer dot by dp4a.u32.s32 (codes unsigned, activations signed, int32 exact),
//    then one FMUL, one I2F and two FFMAs in f32. The only approximation is x ≈ d·q:
//    |error| ≤ Σ_i |s·c_i|·d_j/2 per block (plus f32 rounding).
//    Block = 8 warps; warp w takes 4 rows (64 bytes of 4-bit or 128 bytes of 8-bit weights
//    per lane per iteration, all loaded before any math) of the block and the 32-blocks
//    u ≡ lane (mod 32) of its K-slice (w & (wk−1)); K-slice partial sums meet in shared
//    memory. wk is as large as keeps every lane busy, larger for small layers whose blocks
//    would not cover the SMs. The split depends on the layer and the SM count only, never on
//    n: a row's result is bit-identical alone or in a batch.
//
// Scratch layout (bytes, base 16-byte aligned): xq int8 (8, n_in) at 0 (rows ≥ n unused),
// then (d, sum) float2 (8, n_in/32) at 8·n_in; total gemv_i8_scratch_bytes(n_in) = 10·n_in.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdlib>

#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/gemm.cuh"
#include "engine/kernels/cuda/weight_load.cuh"
#include "engine/kernels/cuda/gemv_dot.cuh"
#include "engine/kernels/cuda/gemv_i8.cuh"
#include "engine/kernels/cuda/pdl.cuh"

namespace mlxm::engine::cuda {

namespace {

using weights::half_bits_to_f;
using weights::ld_stream;

constexpr int kWarps = 8;    // per block
constexpr int kMaxRows = 8;  // activation rows per launch
constexpr int kBlock = 32;   // activation quantization block (values)

template <int BITS>
struct I8Tile {
  // Weight rows per warp. 8 rows at 4 bits (fewer activation loads per weight byte) took
  // 254 registers and spilled at n = 8 (ptxas, sm_90), so 4 for both.
  static constexpr int kRows = 4;
  static constexpr int kChunks = BITS / 4;         // 16-byte weight chunks per 32-block
};

// One warp per 32-block: unit = row·n_units + u. PERM4: dp4a order for 4-bit codes.
template <bool PERM4>
__global__ void __launch_bounds__(kWarps * 32)
    quantize_x_kernel(const float* __restrict__ x, int8_t* __restrict__ xq,
                      float2* __restrict__ xds, int n_in, int64_t n_total_units) {
  pdl::launch_dependents();
  pdl::wait();
  const int64_t unit = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (unit >= n_total_units) return;  // whole warps only
  const int lane = threadIdx.x & 31;
  const int n_units = n_in / kBlock;
  const int64_t j = unit / n_units;
  const int64_t u = unit % n_units;
  const size_t base = static_cast<size_t>(j) * n_in + static_cast<size_t>(u) * kBlock;
  const float v = x[base + lane];
  float amax = fabsf(v);
  float sum = v;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, off));
    sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
  }
  const float d = __fdiv_rn(amax, 127.0f);  // IEEE division (the tests redo it on the host)
  int q = d > 0.0f ? __float2int_rn(__fdiv_rn(v, d)) : 0;
  q = max(-127, min(127, q));
  int pos = lane;
  if constexpr (PERM4) {
    const int i = lane & 7;
    pos = (lane & ~7) | ((i & 1) != 0 ? 4 + (i >> 1) : (i >> 1));
  }
  xq[base + pos] = static_cast<int8_t>(q);
  if (lane == 0) xds[unit] = make_float2(d, sum);
}

template <int BITS, typename Tag, int NR>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_i8_kernel(const uint4* __restrict__ w, const uint32_t* __restrict__ sb,
                   const float* __restrict__ bias, const uint4* __restrict__ xq,
                   const float2* __restrict__ xds, float* __restrict__ y, int n_out, int n_in,
                   int n, int group_shift, int wk_log2) {
  constexpr int kRows = I8Tile<BITS>::kRows;
  constexpr int kCh = I8Tile<BITS>::kChunks;
  __shared__ float red[kWarps][kRows * NR];

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int wk = 1 << wk_log2;
  const int kw = warp & (wk - 1);
  const int rw = warp >> wk_log2;
  const int rows_per_block = kRows * (kWarps >> wk_log2);
  const int row0 = blockIdx.x * rows_per_block + rw * kRows;
  const int n_units = n_in / kBlock;
  const int unit_group_shift = group_shift - 5;  // 32-blocks per group = 1 << this
  const int n_groups = n_in >> group_shift;

  // Before the previous kernel is done: this block's weight rows (contiguous) into L2.
  {
    const int b_row0 = blockIdx.x * rows_per_block;
    const int b_rows = min(rows_per_block, n_out - b_row0);
    const size_t w_row_bytes = static_cast<size_t>(n_units) * kCh * 16;
    pdl::prefetch_l2(w + static_cast<size_t>(b_row0) * (w_row_bytes / 16),
                     static_cast<size_t>(b_rows) * w_row_bytes);
    pdl::prefetch_l2(sb + static_cast<size_t>(b_row0) * n_groups,
                     static_cast<size_t>(b_rows) * n_groups * 4);
  }
  pdl::wait();

  // Row r of the warp: row0 + min(r, last) (rows past the end compute row n_out-1, unstored).
  const int last = n_out - 1 - row0;  // may be negative for warps wholly past the end
  const ptrdiff_t w_stride = static_cast<ptrdiff_t>(n_units) * kCh;  // uint4 per weight row
  const uint4* wbase = w + static_cast<ptrdiff_t>(row0) * w_stride;
  const uint32_t* sbbase = sb + static_cast<size_t>(row0) * n_groups;
  const int x_stride = n_in / 16;  // uint4 per activation row of xq
  float acc[kRows][NR];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < NR; ++j) acc[r][j] = 0.0f;
  }

  for (int u = kw * 32 + lane; u < n_units; u += wk * 32) {
    uint4 wv[kRows][kCh];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int c = 0; c < kCh; ++c) {
        const ptrdiff_t ro = static_cast<ptrdiff_t>(min(r, last)) * w_stride;
        wv[r][c] = ld_stream(wbase + ro + u * kCh + c);
      }
    }
    const int g = u >> unit_group_shift;
    float s[kRows], b[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const uint32_t sbv = __ldg(sbbase + static_cast<ptrdiff_t>(min(r, last)) * n_groups + g);
      s[r] = half_bits_to_f(sbv & 0xFFFFu, Tag{});
      b[r] = half_bits_to_f(sbv >> 16, Tag{});
    }
    gemv_dot::accumulate_unit<BITS>(wv, s, b, xq, xds, x_stride, n_units, u, n, acc);
  }
  pdl::launch_dependents();

  weights::store_split_k_rows<kWarps, kRows, NR>(acc, red, wk_log2, bias, y, n_out, n);
}

// Blocks per SM the K-split aims for (MLXM_CUDA_GEMV_WAVES, 1..8, read once; default 1). On
// the H200 4 gave 3B decode +2-3 % but 1B -4 % and 8B -2 % (bench/NOTES.md): a tuning knob.
int gemv_waves() {
  static const int w = [] {
    const char* e = std::getenv("MLXM_CUDA_GEMV_WAVES");
    const int v = e != nullptr ? std::atoi(e) : 1;
    return v >= 1 && v <= 8 ? v : 1;
  }();
  return w;
}

// K-slices per block (log2): every lane keeps at least one 32-block; small layers whose blocks
// would not cover the SMs (gemv_waves() blocks each) split further while half the lanes stay
// busy.
int choose_wk_log2(int n_units, int n_out, int rows_per_warp) {
  int l = 0;
  while (l < 3 && n_units >= (64 << l)) ++l;
  const int sms = detail::gemm_sm_count() * gemv_waves();
  auto blocks = [&](int ll) {
    const int64_t rpb = rows_per_warp * (kWarps >> ll);
    return (static_cast<int64_t>(n_out) + rpb - 1) / rpb;
  };
  while (l < 3 && blocks(l) < sms && n_units >= (32 << l)) ++l;
  return l;
}

template <int BITS, typename Tag, int NR>
Status launch_i8(const detail::GemvI8Args& a, const uint4* xq, const float2* xds,
                 cudaStream_t stream) {
  constexpr int kRows = I8Tile<BITS>::kRows;
  const int n_units = a.n_in / kBlock;
  const int wk_log2 = choose_wk_log2(n_units, a.n_out, kRows);
  const int rows_per_block = kRows * (kWarps >> wk_log2);
  const unsigned blocks = static_cast<unsigned>(
      (static_cast<int64_t>(a.n_out) + rows_per_block - 1) / rows_per_block);
  MLXM_CUDA_LAUNCH_PDL("gemv_i8_kernel", (gemv_i8_kernel<BITS, Tag, NR>), blocks, kWarps * 32, 0,
                       stream, a.w, a.sb, a.bias, xq, xds, a.y, a.n_out, a.n_in, a.n,
                       detail::log2_exact(a.group_size), wk_log2);
  return ok_status();
}

template <int BITS, typename Tag>
Status launch_i8_rows(const detail::GemvI8Args& a, const uint4* xq, const float2* xds,
                      cudaStream_t s) {
  if (a.n == 1) return launch_i8<BITS, Tag, 1>(a, xq, xds, s);
  if (a.n == 2) return launch_i8<BITS, Tag, 2>(a, xq, xds, s);
  if (a.n <= 4) return launch_i8<BITS, Tag, 4>(a, xq, xds, s);
  return launch_i8<BITS, Tag, 8>(a, xq, xds, s);
}

}  // namespace

size_t gemv_i8_scratch_bytes(int64_t n_in) {
  const size_t k = n_in > 0 ? static_cast<size_t>(n_in) : 0;
  return kMaxRows * k + kMaxRows * (k / kBlock) * sizeof(float2);
}

namespace detail {

Status launch_gemv_i8(const GemvI8Args& a, cudaStream_t stream) {
  if (a.n < 1 || a.n > kMaxRows || a.n_in % kBlock != 0 || (a.bits != 4 && a.bits != 8) ||
      reinterpret_cast<uintptr_t>(a.scratch) % 16 != 0 || a.scratch == nullptr) {
    return invalid_argument("gemv_i8: bad arguments");
  }
  auto* xq = static_cast<int8_t*>(a.scratch);
  auto* xds = reinterpret_cast<float2*>(xq + static_cast<size_t>(kMaxRows) * a.n_in);
  const int64_t n_total_units = static_cast<int64_t>(a.n) * (a.n_in / kBlock);
  const unsigned qblocks = static_cast<unsigned>((n_total_units + kWarps - 1) / kWarps);
  if (a.x_ready) {
    // A producer kernel wrote x quantized (quant_rows.cuh).
  } else if (a.bits == 4) {
    MLXM_CUDA_LAUNCH_PDL("quantize_x_kernel", quantize_x_kernel<true>, qblocks, kWarps * 32, 0,
                         stream, a.x, xq, xds, a.n_in, n_total_units);
  } else {
    MLXM_CUDA_LAUNCH_PDL("quantize_x_kernel", quantize_x_kernel<false>, qblocks, kWarps * 32, 0,
                         stream, a.x, xq, xds, a.n_in, n_total_units);
  }
  const auto* xq4 = reinterpret_cast<const uint4*>(xq);
  if (a.stream && a.bulk) return launch_gemv_bulk(a, xq4, xds, stream);
  if (a.stream) return launch_gemv_stream(a, xq4, xds, stream);
  return dispatch_format(
      a, [&]<int BITS, typename Tag>() { return launch_i8_rows<BITS, Tag>(a, xq4, xds, stream); });
}

}  // namespace detail
}  // namespace mlxm::engine::cuda
