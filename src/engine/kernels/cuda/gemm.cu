// Tensor-core GEMM for MLX affine 4/8-bit weights (gemm.cuh).
//
// y (n, n_out) = x (n, n_in) · Wᵀ. Block tile BM (activation rows) × BN (output rows) × BK = 64,
// warps WM × WN, each warp owning (BM/WM) × (BN/WN) outputs as m16n8 accumulator tiles.
// Per K-tile every thread loads its share of packed codes (16-byte chunks: 32 codes at 4 bits,
// 16 at 8; a chunk never straddles a quantization group), the chunk's (scale, bias) pair and
// float4s of x into registers; they are dequantized (w = s·c + b in f32, rounded once to the
// operand type) and stored to shared memory; ldmatrix + mma.sync m16n8k16 (f32 accumulate)
// consume them while the next tile's global loads are in flight (register double buffer,
// one shared buffer, two barriers per tile). Shared rows are padded by 16 bytes, so ldmatrix
// and the 16-byte stores are free of bank conflicts.
//
// Grid: x over M tiles (fastest: the blocks resident together share one weight tile, so each
// weight byte comes from DRAM about once), y over N tiles, z over K splits. With kz > 1 each
// split writes its partial tile to the workspace and a second kernel sums the splits in order
// (deterministic) and adds the bias.
//
// Configurations: n > 64 rows (prefill) 128×128 tiles, 8 warps (2×4, warp tile 64×32); n <= 64
// (batched decode) the wide one below when GemmArgs::wide and the workspace holds the x copy,
// else 64×64 tiles of 4 warps (2×2). At 64×64 every block re-reads its f32 x tile from L2 for
// each K-tile: 16 KB of x per 2 KB of q4 weights, so L2, not DRAM, bounded it.
// Wide: a small kernel first rounds x to the operand type into the front of the workspace
// (n·n_in 16-bit values; partial sums after it). Block tile 64 × 256 output rows × 64, 8 warps
// side by side along N (warp tile 64×32; 16-row slices with no live row are skipped). Per
// K-tile a block reads 8 KB of x for 8 KB of q4 codes (+2 KB of scale pairs). x tiles, code
// chunks and their (scale, bias) pairs go by cp.async (zero-filled past n and n_in) into a
// ring of 3 stages at 4 bits, 2 at 8 (~94 KB of dynamic shared memory, 2 blocks per SM,
// __launch_bounds__(256, 2): 128 registers); each thread dequantizes its own chunks of tile t
// into the shared weight tile while tiles t+1.. are in flight. The operands and the K order
// are those of the 64×64 configuration: without split-K both give identical results. K is
// split to fill one wave (largest kz with kz·tiles <= resident blocks per SM (occupancy API, 2
// expected) · SMs, ≤ 16, ≥ 4 K-tiles per split).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>

#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/dequant.cuh"
#include "engine/kernels/cuda/gemm.cuh"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda::detail {
namespace {

constexpr int kBK = 64;
constexpr int kLds = kBK + 8;  // shared row stride in 16-bit elements (144 bytes)

using weights::code_f;

// The operand type T (__half / __nv_bfloat16) as weight_load.cuh's tag.
__device__ __forceinline__ uint32_t pack2(float lo, float hi, __half*) {
  return weights::pack2(lo, hi, weights::F16Tag{});
}
__device__ __forceinline__ uint32_t pack2(float lo, float hi, __nv_bfloat16*) {
  return weights::pack2(lo, hi, weights::BF16Tag{});
}
__device__ __forceinline__ float sb_lo(uint32_t v, __half*) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(v & 0xFFFFu)));
}
__device__ __forceinline__ float sb_hi(uint32_t v, __half*) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(v >> 16)));
}
__device__ __forceinline__ float sb_lo(uint32_t v, __nv_bfloat16*) {
  return __uint_as_float(v << 16);
}
__device__ __forceinline__ float sb_hi(uint32_t v, __nv_bfloat16*) {
  return __uint_as_float(v & 0xFFFF0000u);
}

__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, const uint32_t* b,
                                         __half*) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, const uint32_t* b,
                                         __nv_bfloat16*) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* smem) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

template <int BM, int BN, int WM, int WN, int BITS, typename T>
__global__ void __launch_bounds__(WM * WN * 32)
    gemm_q_kernel(const uint4* __restrict__ w, const uint32_t* __restrict__ sb,
                  const float* __restrict__ bias, const float* __restrict__ x,
                  float* __restrict__ y, float* __restrict__ part, int n, int n_out, int n_in,
                  int group_shift, int tiles_per_split) {
  constexpr int kThreads = WM * WN * 32;
  constexpr int kCodes = 128 / BITS;              // codes per 16-byte chunk
  constexpr int kCpr = kBK / kCodes;              // chunks per row per K-tile
  constexpr int kWc = BN * kCpr / kThreads;       // chunks per thread
  constexpr int kXv = BM * (kBK / 4) / kThreads;  // x float4s per thread
  constexpr int kWtm = BM / WM, kWtn = BN / WN;
  constexpr int kMt = kWtm / 16, kNt = kWtn / 8;
  static_assert(kWc >= 1 && BN * kCpr % kThreads == 0, "weight chunks must tile the threads");
  static_assert(kXv >= 1 && BM * (kBK / 4) % kThreads == 0, "x loads must tile the threads");
  static_assert(kNt % 2 == 0 && kMt >= 1, "warp tile");

  __shared__ __align__(16) uint16_t As[BM * kLds];
  __shared__ __align__(16) uint16_t Bs[BN * kLds];

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  const int m0 = blockIdx.x * BM;
  const int n0 = blockIdx.y * BN;
  const int k_tiles = (n_in + kBK - 1) / kBK;
  const int t_begin = blockIdx.z * tiles_per_split;
  const int t_end = min(k_tiles, t_begin + tiles_per_split);
  const int chunks_per_row = n_in / kCodes;
  const int n_groups = n_in >> group_shift;

  // This thread's fixed load slots.
  int w_row[kWc], w_cc[kWc];
  const uint4* w_ptr[kWc];
  const uint32_t* sb_ptr[kWc];
#pragma unroll
  for (int i = 0; i < kWc; ++i) {
    const int c = tid + i * kThreads;
    w_row[i] = c / kCpr;
    w_cc[i] = c % kCpr;
    const int row = min(n0 + w_row[i], n_out - 1);  // rows past the end: computed, not stored
    w_ptr[i] = w + static_cast<size_t>(row) * chunks_per_row;
    sb_ptr[i] = sb + static_cast<size_t>(row) * n_groups;
  }
  // Batched decode (one M tile): before the previous kernel is done, this block's weight rows
  // over its K range into L2, one row per thread (prefill tiles are compute-bound: none).
  if (gridDim.x == 1 && tid < BN && n0 + tid < n_out && t_begin < t_end) {
    const int k0 = t_begin * kBK;
    const int k1 = min(n_in, t_end * kBK);
    const size_t row = static_cast<size_t>(n0 + tid);
    pdl::prefetch_l2_thread(w + row * chunks_per_row + k0 / kCodes,
                            static_cast<size_t>(k1 - k0) * BITS / 8);
    pdl::prefetch_l2_thread(sb + row * n_groups + (k0 >> group_shift),
                            static_cast<size_t>(((k1 - 1) >> group_shift) - (k0 >> group_shift) + 1) * 4);
  }
  pdl::wait();

  uint4 wv[kWc];
  uint32_t sbv[kWc];
  float4 xv[kXv];

  auto load = [&](int t) {
    const int k0 = t * kBK;
#pragma unroll
    for (int i = 0; i < kWc; ++i) {
      const int kpos = k0 + w_cc[i] * kCodes;
      if (kpos < n_in) {
        wv[i] = ld_stream(w_ptr[i] + kpos / kCodes);
        sbv[i] = __ldg(sb_ptr[i] + (kpos >> group_shift));
      } else {
        wv[i] = make_uint4(0, 0, 0, 0);
        sbv[i] = 0;  // scale 0, bias 0: zero weights
      }
    }
#pragma unroll
    for (int i = 0; i < kXv; ++i) {
      const int f = tid + i * kThreads;
      const int r = f / (kBK / 4);
      const int kk = (f % (kBK / 4)) * 4;
      if (m0 + r < n && k0 + kk < n_in) {
        xv[i] = __ldg(reinterpret_cast<const float4*>(x + static_cast<size_t>(m0 + r) * n_in +
                                                      k0 + kk));
      } else {
        xv[i] = make_float4(0.f, 0.f, 0.f, 0.f);
      }
    }
  };

  auto store = [&]() {
#pragma unroll
    for (int i = 0; i < kWc; ++i) {
      const float s = sb_lo(sbv[i], static_cast<T*>(nullptr));
      const float b = sb_hi(sbv[i], static_cast<T*>(nullptr));
      uint16_t* dst = Bs + w_row[i] * kLds + w_cc[i] * kCodes;
      const uint32_t words[4] = {wv[i].x, wv[i].y, wv[i].z, wv[i].w};
      constexpr int kPer = 32 / BITS;  // codes per word
      uint32_t packed[kCodes / 2];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
#pragma unroll
        for (int e = 0; e < kPer; e += 2) {
          packed[(q * kPer + e) / 2] =
              pack2(fmaf(s, code_f<BITS>(words[q], e), b),
                    fmaf(s, code_f<BITS>(words[q], e + 1), b), static_cast<T*>(nullptr));
        }
      }
#pragma unroll
      for (int v = 0; v < kCodes / 8; ++v) {
        reinterpret_cast<uint4*>(dst)[v] =
            make_uint4(packed[4 * v], packed[4 * v + 1], packed[4 * v + 2], packed[4 * v + 3]);
      }
    }
#pragma unroll
    for (int i = 0; i < kXv; ++i) {
      const int f = tid + i * kThreads;
      const int r = f / (kBK / 4);
      const int kk = (f % (kBK / 4)) * 4;
      *reinterpret_cast<uint2*>(As + r * kLds + kk) =
          make_uint2(pack2(xv[i].x, xv[i].y, static_cast<T*>(nullptr)),
                     pack2(xv[i].z, xv[i].w, static_cast<T*>(nullptr)));
    }
  };

  float acc[kMt][kNt][4];
#pragma unroll
  for (int i = 0; i < kMt; ++i) {
#pragma unroll
    for (int j = 0; j < kNt; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
    }
  }

  if (t_begin < t_end) load(t_begin);
  for (int t = t_begin; t < t_end; ++t) {
    store();
    __syncthreads();
    if (t + 1 < t_end) load(t + 1);
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      uint32_t af[kMt][4];
      uint32_t bf[kNt][2];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
        const int r = wm * kWtm + mt * 16 + (lane & 15);
        const int c = ks * 16 + (lane >> 4) * 8;
        ldmatrix_x4(af[mt], As + r * kLds + c);
      }
#pragma unroll
      for (int np = 0; np < kNt / 2; ++np) {
        const int r = wn * kWtn + np * 16 + (lane >> 4) * 8 + (lane & 7);
        const int c = ks * 16 + ((lane >> 3) & 1) * 8;
        uint32_t q[4];
        ldmatrix_x4(q, Bs + r * kLds + c);
        bf[2 * np][0] = q[0];
        bf[2 * np][1] = q[1];
        bf[2 * np + 1][0] = q[2];
        bf[2 * np + 1][1] = q[3];
      }
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
        for (int nt = 0; nt < kNt; ++nt) mma16816(acc[mt][nt], af[mt], bf[nt], static_cast<T*>(nullptr));
      }
    }
    __syncthreads();
  }
  pdl::launch_dependents();

  // Epilogue: accumulator (row lane/4 (+8), cols 2·(lane%4) + {0,1}) of each m16n8 tile.
  float* out = part != nullptr ? part + static_cast<size_t>(blockIdx.z) * n * n_out : y;
#pragma unroll
  for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt) {
      const int col = n0 + wn * kWtn + nt * 8 + 2 * (lane & 3);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + wm * kWtm + mt * 16 + (lane >> 2) + 8 * h;
        if (row >= n) continue;
        float* o = out + static_cast<size_t>(row) * n_out;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int cc = col + e;
          if (cc >= n_out) continue;
          float v = acc[mt][nt][2 * h + e];
          if (part == nullptr && bias != nullptr) v += bias[cc];
          o[cc] = v;
        }
      }
    }
  }
}

// ---- Wide configuration (n <= 64 rows: batched decode) ----------------------------------------
// x is converted once to the operand type (dequant.cuh's launch_round_operand, into the
// caller's workspace); the GEMM then streams x tiles and raw weight chunks with cp.async into
// a kStages-deep shared ring (tile t+kStages-1 in flight while tile t is dequantized and
// multiplied). Each thread copies and later dequantizes its own weight chunks (so the raw ring needs no barrier); the x tiles
// are read by every warp after the barrier that follows the dequantization.

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool pred) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int bytes = pred ? 16 : 0;  // 0: zero-fill, nothing read
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(gmem), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, bool pred) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int bytes = pred ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(s), "l"(gmem), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

constexpr int kWideBM = 64, kWideBN = 256, kWideWarps = 8;  // warps side by side along N
constexpr int kWideThreads = kWideWarps * 32;

template <int BITS>
struct WideCfg {
  static constexpr int kStages = BITS == 4 ? 3 : 2;  // ~94 KB of shared memory: 2 blocks per SM
  static constexpr int kCodes = 128 / BITS;          // codes per 16-byte chunk
  static constexpr int kCpr = kBK / kCodes;          // chunks per row per K-tile
  static constexpr int kWc = kWideBN * kCpr / kWideThreads;       // chunks per thread
  static constexpr int kXc = kWideBM * (kBK / 8) / kWideThreads;  // x 16-byte chunks
  static constexpr int kBsBytes = kWideBN * kLds * 2;             // dequantized weights
  static constexpr int kAsBytes = kWideBM * kLds * 2;             // one x tile
  static constexpr int kRawBytes = kWc * kWideThreads * 16;       // one tile's codes
  static constexpr int kSbBytes = kWc * kWideThreads * 4;         // their (scale, bias)
  static constexpr int kStageBytes = kAsBytes + kRawBytes + kSbBytes;
  static constexpr int kSmem = kBsBytes + kStages * kStageBytes;
  static_assert(kWc >= 1 && kWideBN * kCpr % kWideThreads == 0, "weight chunks");
  static_assert(kXc >= 1 && kWideBM * (kBK / 8) % kWideThreads == 0, "x chunks");
  static_assert(kStageBytes % 16 == 0 && kBsBytes % 16 == 0, "16-byte aligned regions");
};

template <int BITS, typename T>
__global__ void __launch_bounds__(kWideThreads, 2)
    gemm_q_wide_kernel(const uint4* __restrict__ w, const uint32_t* __restrict__ sb,
                       const float* __restrict__ bias, const uint16_t* __restrict__ xo,
                       float* __restrict__ y, float* __restrict__ part, int n, int n_out, int n_in,
                       int group_shift, int tiles_per_split) {
  using C = WideCfg<BITS>;
  constexpr int kS = C::kStages, kCodes = C::kCodes, kCpr = C::kCpr, kWc = C::kWc;
  constexpr int kWtn = kWideBN / kWideWarps;  // 32 output rows per warp
  constexpr int kMt = kWideBM / 16, kNt = kWtn / 8;

  extern __shared__ __align__(16) unsigned char smem[];
  uint16_t* Bs = reinterpret_cast<uint16_t*>(smem);  // (BN, kLds)
  auto As = [&](int s) {                             // (BM, kLds) of stage s
    return reinterpret_cast<uint16_t*>(smem + C::kBsBytes + s * C::kStageBytes);
  };
  auto Raw = [&](int s) {  // (kWc·threads) 16-byte code chunks of stage s
    return reinterpret_cast<uint4*>(smem + C::kBsBytes + s * C::kStageBytes + C::kAsBytes);
  };
  auto Sbr = [&](int s) {  // their (scale, bias) pairs
    return reinterpret_cast<uint32_t*>(smem + C::kBsBytes + s * C::kStageBytes + C::kAsBytes +
                                       C::kRawBytes);
  };

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int wn = tid >> 5;
  const int m0 = blockIdx.x * kWideBM;
  const int n0 = blockIdx.y * kWideBN;
  const int k_tiles = (n_in + kBK - 1) / kBK;
  const int t_begin = blockIdx.z * tiles_per_split;
  const int t_end = min(k_tiles, t_begin + tiles_per_split);
  const int chunks_per_row = n_in / kCodes;
  const int n_groups = n_in >> group_shift;

  int w_row[kWc], w_cc[kWc];
  const uint4* w_ptr[kWc];
  const uint32_t* sb_ptr[kWc];
#pragma unroll
  for (int i = 0; i < kWc; ++i) {
    const int c = tid + i * kWideThreads;
    w_row[i] = c / kCpr;
    w_cc[i] = c % kCpr;
    const int row = min(n0 + w_row[i], n_out - 1);  // rows past the end: computed, not stored
    w_ptr[i] = w + static_cast<size_t>(row) * chunks_per_row;
    sb_ptr[i] = sb + static_cast<size_t>(row) * n_groups;
  }

  // Tile t into stage s: this thread's code chunks and pairs, its share of the x tile. Past
  // n_in (n_in % 64 == 32) the chunks are zero-filled: scale 0, bias 0, x 0.
  auto issue = [&](int t, int s) {
    const int k0 = t * kBK;
    uint4* raw = Raw(s);
    uint32_t* sbr = Sbr(s);
#pragma unroll
    for (int i = 0; i < kWc; ++i) {
      const int kpos = k0 + w_cc[i] * kCodes;
      const bool in = kpos < n_in;
      const int slot = tid + i * kWideThreads;
      cp_async16(raw + slot, in ? w_ptr[i] + kpos / kCodes : w_ptr[i], in);
      cp_async4(sbr + slot, in ? sb_ptr[i] + (kpos >> group_shift) : sb_ptr[i], in);
    }
    uint16_t* as = As(s);
#pragma unroll
    for (int i = 0; i < C::kXc; ++i) {
      const int f = tid + i * kWideThreads;
      const int r = f / (kBK / 8);
      const int kk = (f % (kBK / 8)) * 8;
      const bool in = m0 + r < n && k0 + kk < n_in;
      const uint16_t* src = in ? xo + static_cast<size_t>(m0 + r) * n_in + k0 + kk : xo;
      cp_async16(as + r * kLds + kk, src, in);
    }
  };

  // This thread's chunks of stage s, dequantized into Bs (as the 64×64 kernel's store()).
  auto dequant = [&](int s) {
    const uint4* raw = Raw(s);
    const uint32_t* sbr = Sbr(s);
#pragma unroll
    for (int i = 0; i < kWc; ++i) {
      const int slot = tid + i * kWideThreads;
      const uint4 wv = raw[slot];
      const uint32_t sbv = sbr[slot];
      const float sc = sb_lo(sbv, static_cast<T*>(nullptr));
      const float bi = sb_hi(sbv, static_cast<T*>(nullptr));
      uint16_t* dst = Bs + w_row[i] * kLds + w_cc[i] * kCodes;
      const uint32_t words[4] = {wv.x, wv.y, wv.z, wv.w};
      constexpr int kPer = 32 / BITS;
      uint32_t packed[kCodes / 2];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
#pragma unroll
        for (int e = 0; e < kPer; e += 2) {
          packed[(q * kPer + e) / 2] =
              pack2(fmaf(sc, code_f<BITS>(words[q], e), bi),
                    fmaf(sc, code_f<BITS>(words[q], e + 1), bi), static_cast<T*>(nullptr));
        }
      }
#pragma unroll
      for (int v = 0; v < kCodes / 8; ++v) {
        reinterpret_cast<uint4*>(dst)[v] =
            make_uint4(packed[4 * v], packed[4 * v + 1], packed[4 * v + 2], packed[4 * v + 3]);
      }
    }
  };

  float acc[kMt][kNt][4];
#pragma unroll
  for (int i = 0; i < kMt; ++i) {
#pragma unroll
    for (int j = 0; j < kNt; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
    }
  }

  // Ring: one commit group per tile (empty past the end, so the wait count stays uniform).
  const int nt = t_end - t_begin;
#pragma unroll
  for (int j = 0; j < kS - 1; ++j) {
    if (j < nt) issue(t_begin + j, j);
    cp_async_commit();
  }
  for (int j = 0; j < nt; ++j) {
    const int s = j % kS;
    cp_async_wait<kS - 2>();  // this thread's copies of tile j have landed
    // Refill the stage of tile j-1: every warp finished with its x tile (barrier at the end of
    // the last iteration), and its codes were read by this thread alone (dequant(j-1)).
    if (j + kS - 1 < nt) issue(t_begin + j + kS - 1, (j + kS - 1) % kS);
    cp_async_commit();
    dequant(s);
    __syncthreads();  // Bs and every thread's share of As(s) visible
    const uint16_t* as = As(s);
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      uint32_t af[kMt][4];
      uint32_t bf[kNt][2];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
        if (m0 + mt * 16 >= n) continue;  // warp-uniform: 16-row tiles without rows skipped
        const int r = mt * 16 + (lane & 15);
        const int c = ks * 16 + (lane >> 4) * 8;
        ldmatrix_x4(af[mt], as + r * kLds + c);
      }
#pragma unroll
      for (int np = 0; np < kNt / 2; ++np) {
        const int r = wn * kWtn + np * 16 + (lane >> 4) * 8 + (lane & 7);
        const int c = ks * 16 + ((lane >> 3) & 1) * 8;
        uint32_t q[4];
        ldmatrix_x4(q, Bs + r * kLds + c);
        bf[2 * np][0] = q[0];
        bf[2 * np][1] = q[1];
        bf[2 * np + 1][0] = q[2];
        bf[2 * np + 1][1] = q[3];
      }
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
        if (m0 + mt * 16 >= n) continue;
#pragma unroll
        for (int nt8 = 0; nt8 < kNt; ++nt8) {
          mma16816(acc[mt][nt8], af[mt], bf[nt8], static_cast<T*>(nullptr));
        }
      }
    }
    __syncthreads();  // Bs and As(s) free for the next tile
  }
  cp_async_wait<0>();

  float* out = part != nullptr ? part + static_cast<size_t>(blockIdx.z) * n * n_out : y;
#pragma unroll
  for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
    for (int nt8 = 0; nt8 < kNt; ++nt8) {
      const int col = n0 + wn * kWtn + nt8 * 8 + 2 * (lane & 3);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + mt * 16 + (lane >> 2) + 8 * h;
        if (row >= n) continue;
        float* o = out + static_cast<size_t>(row) * n_out;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int cc = col + e;
          if (cc >= n_out) continue;
          float v = acc[mt][nt8][2 * h + e];
          if (part == nullptr && bias != nullptr) v += bias[cc];
          o[cc] = v;
        }
      }
    }
  }
}

// y[i] = Σ_z part[z][i] (in z order) + bias.
__global__ void splitk_reduce_kernel(const float* __restrict__ part, const float* __restrict__ bias,
                                     float* __restrict__ y, int64_t total, int n_out, int kz) {
  pdl::launch_dependents();
  pdl::wait();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    for (int z = 0; z < kz; ++z) v += part[z * total + i];
    if (bias != nullptr) v += bias[i % n_out];
    y[i] = v;
  }
}

// Resident wide blocks per SM (4-bit, 8-bit bf16 kernels; 2 by design), set by allow_wide_smem.
std::atomic<int> g_wide_blocks[2] = {2, 2};

// One wide kernel: allow its dynamic shared memory (> 48 KB must be allowed per kernel and
// device), prefer the largest shared-memory carveout (2 blocks of ~94 KB per SM), and read
// how many blocks fit (the split-K wave size).
template <int BITS, typename T>
Status allow_wide_kernel() {
  auto* kernel = gemm_q_wide_kernel<BITS, T>;
  MLXM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     WideCfg<BITS>::kSmem));
  MLXM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                     cudaSharedmemCarveoutMaxShared));
  int blocks = 0;
  MLXM_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kWideThreads,
                                                              WideCfg<BITS>::kSmem));
  g_wide_blocks[BITS == 4 ? 0 : 1].store(std::max(1, blocks), std::memory_order_relaxed);
  return ok_status();
}

// Done once per device, first at upload (gemm_sm_count()), outside any stream capture.
Status allow_wide_smem() {
  static std::atomic<uint64_t> done{0};
  int dev = 0;
  MLXM_CUDA_TRY(cudaGetDevice(&dev));
  const uint64_t bit = dev >= 0 && dev < 64 ? uint64_t{1} << dev : 0;
  if (bit != 0 && (done.load(std::memory_order_acquire) & bit) != 0) return ok_status();
  MLXM_RETURN_IF_ERROR((allow_wide_kernel<4, __half>()));
  MLXM_RETURN_IF_ERROR((allow_wide_kernel<8, __half>()));
  MLXM_RETURN_IF_ERROR((allow_wide_kernel<4, __nv_bfloat16>()));
  MLXM_RETURN_IF_ERROR((allow_wide_kernel<8, __nv_bfloat16>()));
  done.fetch_or(bit, std::memory_order_acq_rel);
  return ok_status();
}

}  // namespace

int gemm_sm_count() {
  if (!allow_wide_smem().ok()) cudaGetLastError();  // reported again by the launch
  static std::atomic<int> cached{0};
  int v = cached.load(std::memory_order_relaxed);
  if (v > 0) return v;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || v <= 0) {
    cudaGetLastError();
    return 132;
  }
  cached.store(v, std::memory_order_relaxed);
  return v;
}

namespace {

int log2_exact(int v) {
  int s = 0;
  while ((1 << s) < v) ++s;
  return s;
}

// Sums kz partial tiles (kz·n·n_out floats at part) into y in z order, adds the bias.
Status launch_splitk_reduce(const GemmArgs& a, const float* part, int kz, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(a.n) * a.n_out;
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 4096);
  MLXM_CUDA_LAUNCH_PDL("splitk_reduce_kernel", splitk_reduce_kernel, static_cast<unsigned>(blocks),
                       256, 0, stream, part, a.bias, a.y, total, a.n_out, kz);
  return ok_status();
}

template <int BM, int BN, int WM, int WN, int BITS, typename T>
Status launch_cfg(const GemmArgs& a, int blocks_per_sm, cudaStream_t stream) {
  const int mt = (a.n + BM - 1) / BM;
  const int nt = (a.n_out + BN - 1) / BN;
  if (nt > 65535) return invalid_argument("gemm: too many output tiles");
  const int k_tiles = (a.n_in + kBK - 1) / kBK;
  // Split K when the output tiles would leave SMs idle: each split keeps ≥ 4 K-tiles.
  const int64_t tiles = static_cast<int64_t>(mt) * nt;
  const int64_t target = static_cast<int64_t>(gemm_sm_count()) * blocks_per_sm;
  int kz = 1;
  if (a.workspace != nullptr && tiles < target) {
    kz = static_cast<int>(std::min<int64_t>((target + tiles - 1) / tiles, 16));
    kz = std::min(kz, std::max(1, k_tiles / 4));
    const size_t per = static_cast<size_t>(a.n) * static_cast<size_t>(a.n_out);
    while (kz > 1 && static_cast<size_t>(kz) * per > a.workspace_floats) --kz;
  }
  const int tps = (k_tiles + kz - 1) / kz;
  kz = (k_tiles + tps - 1) / tps;
  float* part = kz > 1 ? a.workspace : nullptr;
  const dim3 grid(static_cast<unsigned>(mt), static_cast<unsigned>(nt), static_cast<unsigned>(kz));
  MLXM_CUDA_LAUNCH_PDL("gemm_q_kernel", (gemm_q_kernel<BM, BN, WM, WN, BITS, T>), grid,
                       WM * WN * 32, 0, stream, a.w, a.sb, a.bias, a.x, a.y, part, a.n, a.n_out,
                       a.n_in, log2_exact(a.group_size), tps);
  if (kz > 1) return launch_splitk_reduce(a, part, kz, stream);
  return ok_status();
}

// The wide configuration (n <= 64, workspace holding the x copy; see the file header).
template <int BITS, typename T>
Status launch_wide(const GemmArgs& a, size_t x_floats, cudaStream_t stream) {
  using C = WideCfg<BITS>;
  const int nt = (a.n_out + kWideBN - 1) / kWideBN;
  if (nt > 65535) return invalid_argument("gemm: too many output tiles");
  const int k_tiles = (a.n_in + kBK - 1) / kBK;
  MLXM_RETURN_IF_ERROR(allow_wide_smem());
  // Split K so that the blocks fill one wave without a second, partial one: the largest kz
  // with kz·nt <= resident blocks per SM · SMs, each split >= 4 K-tiles, <= 16 splits, within
  // the workspace left after the x copy.
  const int64_t target = static_cast<int64_t>(gemm_sm_count()) *
                         g_wide_blocks[BITS == 4 ? 0 : 1].load(std::memory_order_relaxed);
  const size_t per = static_cast<size_t>(a.n) * static_cast<size_t>(a.n_out);
  const size_t room = a.workspace_floats - x_floats;
  int kz = static_cast<int>(std::clamp<int64_t>(target / nt, 1, 16));
  kz = std::min(kz, std::max(1, k_tiles / 4));
  while (kz > 1 && static_cast<size_t>(kz) * per > room) --kz;
  const int tps = (k_tiles + kz - 1) / kz;
  kz = (k_tiles + tps - 1) / tps;
  float* part = kz > 1 ? a.workspace + x_floats : nullptr;

  // x (n, n_in) f32 -> operand type (rounded as the 64×64 kernel rounds it), at the front of
  // the workspace.
  auto* xo = reinterpret_cast<uint16_t*>(a.workspace);
  MLXM_RETURN_IF_ERROR(launch_round_operand(a.x, xo, static_cast<int64_t>(a.n) * a.n_in, a.f16,
                                            stream));

  const dim3 grid(static_cast<unsigned>((a.n + kWideBM - 1) / kWideBM), static_cast<unsigned>(nt),
                  static_cast<unsigned>(kz));
  gemm_q_wide_kernel<BITS, T><<<grid, kWideThreads, C::kSmem, stream>>>(
      a.w, a.sb, a.bias, xo, a.y, part, a.n, a.n_out, a.n_in, log2_exact(a.group_size), tps);
  MLXM_CUDA_CHECK_LAUNCH("gemm_q_wide_kernel");
  if (kz > 1) return launch_splitk_reduce(a, part, kz, stream);
  return ok_status();
}

template <int BITS, typename T>
Status launch_bits(const GemmArgs& a, cudaStream_t stream) {
  // Few rows (batched decode, short chunks): the wide configuration when the workspace holds
  // the x copy, else 64×64 tiles of 4 warps; both memory-bound, split-K.
  // Many rows (prefill): 128×128 tiles of 8 warps, warp tile 64×32.
  if (a.n <= 64) {
    const size_t x_floats = gemm_x_scratch_floats(a.n, a.n_in);
    if (a.wide && a.workspace != nullptr && a.workspace_floats >= x_floats &&
        reinterpret_cast<uintptr_t>(a.workspace) % 16 == 0) {
      return launch_wide<BITS, T>(a, x_floats, stream);
    }
    return launch_cfg<64, 64, 2, 2, BITS, T>(a, 4, stream);
  }
  return launch_cfg<128, 128, 2, 4, BITS, T>(a, 1, stream);
}

}  // namespace

Status launch_gemm_q(const GemmArgs& a, cudaStream_t stream) {
  if (a.bits != 4 && a.bits != 8) return invalid_argument("gemm: 4 or 8 bits only");
  if (a.n <= 0) return ok_status();
  if (a.n_in % 32 != 0) return invalid_argument("gemm: n_in must be a multiple of 32");
  if (a.bits == 4) {
    return a.f16 ? launch_bits<4, __half>(a, stream) : launch_bits<4, __nv_bfloat16>(a, stream);
  }
  return a.f16 ? launch_bits<8, __half>(a, stream) : launch_bits<8, __nv_bfloat16>(a, stream);
}

}  // namespace mlxm::engine::cuda::detail
