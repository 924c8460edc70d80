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
// (batched decode) 64×64 tiles of 4 warps (2×2). At 64×64 every block re-reads its f32 x tile
// from L2 for each K-tile (16 KB of x per 2 KB of q4 weights). A 64×256 "wide" configuration
// (x rounded once to the operand type, cp.async ring) and 64×128 tiles were tried and measured
// slower on the H200 (bench/NOTES.md); ncu puts the 64-row kernel at 46 M instructions for 8B
// gate+up, instruction- rather than memory-bound. 4-bit calls of <= 64 rows go first to the
// batched-decode GEMM (gemm_decode.cu), which returns kUnimplemented where this one measured
// faster. Dequantizing here with bf16x2 FMAs (gemm_decode.cu's dequant8) instead of f32 FMAs
// measured 8B x 64 decode 6,231 vs 6,764 tok/s (run 24): not the bottleneck of this kernel.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <type_traits>

#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/gemm.cuh"
#include "engine/kernels/cuda/mma.cuh"
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
  // No L2 prefetch of the weight rows before pdl::wait(): issued per thread, it ran as a
  // 32-step loop per warp, and without it most 8-bit batched-decode calls took 6-13 % less
  // time (bench/NOTES.md run 189), as the decode GEMM's did (run 187).
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
        mma::ldmatrix_x4(af[mt], As + r * kLds + c);
      }
#pragma unroll
      for (int np = 0; np < kNt / 2; ++np) {
        const int r = wn * kWtn + np * 16 + (lane >> 4) * 8 + (lane & 7);
        const int c = ks * 16 + ((lane >> 3) & 1) * 8;
        uint32_t q[4];
        mma::ldmatrix_x4(q, Bs + r * kLds + c);
        bf[2 * np][0] = q[0];
        bf[2 * np][1] = q[1];
        bf[2 * np + 1][0] = q[2];
        bf[2 * np + 1][1] = q[3];
      }
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
        for (int nt = 0; nt < kNt; ++nt) mma::m16n8k16(acc[mt][nt], af[mt], bf[nt], mma::TagOf<T>{});
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

}  // namespace

int gemm_sm_count() {
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

Status finish_split_k(const GemmArgs& a, const float* part, int kz, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(a.n) * a.n_out;
  if (a.split_k_out != nullptr && a.bias == nullptr) {
    *a.split_k_out = {part, {kz, total}};
    return ok_status();
  }
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 4096);
  MLXM_CUDA_LAUNCH_PDL("splitk_reduce_kernel", splitk_reduce_kernel, static_cast<unsigned>(blocks),
                       256, 0, stream, part, a.bias, a.y, total, a.n_out, kz);
  return ok_status();
}

namespace {


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
                       a.n_in, detail::log2_exact(a.group_size), tps);
  if (kz > 1) return finish_split_k(a, part, kz, stream);
  return ok_status();
}

template <int BITS, typename T>
Status launch_bits(const GemmArgs& a, cudaStream_t stream) {
  // Few rows (batched decode, short chunks): 64×64 tiles of 4 warps, split-K.
  // Many rows (prefill): 128×128 tiles of 8 warps, warp tile 64×32.
  if (a.n <= 64) return launch_cfg<64, 64, 2, 2, BITS, T>(a, 4, stream);
  return launch_cfg<128, 128, 2, 4, BITS, T>(a, 1, stream);
}

}  // namespace

Status launch_gemm_q(const GemmArgs& a, cudaStream_t stream) {
  if (a.bits != 4 && a.bits != 8) return invalid_argument("gemm: 4 or 8 bits only");
  if (a.n <= 0) return ok_status();
  if (a.n_in % 32 != 0) return invalid_argument("gemm: n_in must be a multiple of 32");
  if (a.bits == 4 && a.n <= 64 && a.decode != GemmDecode::kOff) {
    const Status st = launch_gemm_decode(a, stream);
    if (st.code() != StatusCode::kUnimplemented) return st;
  }
  if (a.bits == 4) {
    return a.f16 ? launch_bits<4, __half>(a, stream) : launch_bits<4, __nv_bfloat16>(a, stream);
  }
  return a.f16 ? launch_bits<8, __half>(a, stream) : launch_bits<8, __nv_bfloat16>(a, stream);
}

}  // namespace mlxm::engine::cuda::detail
