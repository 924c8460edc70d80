// Batched-decode GEMM for MLX affine 4-bit weights, 1..64 activation rows (gemm.cuh,
// launch_gemm_decode): y (n, n_out) = x (n, n_in) · Wᵀ (+ bias).
//
// The 64×64 GEMM of gemm.cu keeps one 16-byte weight chunk per thread in flight and re-reads
// f32 x from L2 for every 64-row tile; at 2..64 rows it streams weights at ~0.75 TB/s (ncu:
// latency- and instruction-bound). Here:
// 1. round_x_kernel writes x once per call as the operand type (bf16/f16) into the head of the
//    split-K workspace, in the K order the weights are dequantized in (below), each row padded
//    with zeros to a multiple of 64 values (gemm_x.cuh). Where the producer of x wrote that
//    form already (GemmArgs::x_ready, cuda_ops.h XTarget) there is no such launch.
// 2. gemm_decode_kernel: block tile 128 output rows × all (≤ 64) activation rows, K tiles of
//    64. A kStages-deep cp.async ring brings each tile's raw codes (128 rows × 32 bytes),
//    (scale, bias) words and x (rows × 64 values) into shared memory; weight loads of the
//    first tiles are issued before pdl::wait(). 4 warps own 32 output rows each (four n8
//    tiles), or 8 warps 16 each (the plan's warps); a lane reads 8 bytes of codes per n8
//    tile and K tile straight into mma.sync B fragments (no dequantized shared tile, no
//    barrier for it): dequant8 turns a word's 8 codes into 4 operand pairs with 3 logic ops,
//    4 byte permutes and 8 paired FMAs.
//    x fragments come by ldmatrix from the ring. At 16 rows each ring barrier hands over two
//    K-tiles (kPer), whose chains the warps interleave.
// 3. split-K (grid.y = kz) with the deterministic sum of gemm.cu (finish_split_k).
// Whether a call runs here, the instantiation and kz: plan_gemm_decode (gemm_decode_plan.h).
//
// K order. mma.sync m16n8k16's B fragment gives lane (g = lane/4, t = lane%4) the K positions
// {2t, 2t+1} (b0) and {2t+8, 2t+9} (b1) of weight row g. Lane t takes the 16 codes at natural
// K 16t..16t+15 of each tile (words W0, W1); dequant8(W) yields the pairs (c0,c2), (c4,c6),
// (c1,c3), (c5,c7). Tile position p = 16s + 8h + 2t + e (k-step s, half h, pair element e)
// therefore holds natural K  pi(p) = 16t + 8(s>>1) + (s&1) + 4h + 2e, and round_x_kernel
// stores x[k0 + pi(p)] at position p (gemm_x::store_chunk). A dot product over a permuted K
// is the same sum.
//
// Every output row of a call is computed the same way for every n of its row class (1-16,
// 17-32, 33-64: the instantiation and kz depend on the class, kz also on the layer and the SM
// count, never on n), so a row's result is bit-identical in any batch of its class. In auto
// mode the calls where the 64x64 GEMM measured faster return kUnimplemented (launch_gemm_q
// then runs it).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "engine/kernels/cuda/cp_async.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/gemm.cuh"
#include "engine/kernels/cuda/gemm_decode_plan.h"
#include "engine/kernels/cuda/gemm_x.cuh"
#include "engine/kernels/cuda/mma.cuh"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda::detail {
namespace {

constexpr int kK = kDecodeGemmK;       // K per tile
constexpr int kBN = kDecodeGemmBN;  // output rows per block
// Warps per block W (DecodeGemmPlan::warps): 4 of 32 output rows each, or 8 of 16 (at 1-16
// rows 56 registers, 4 blocks per SM; at 17-32 rows 72, 3 per SM).
template <int W>
constexpr int kNtOf = kBN / (8 * W);  // n8 tiles per warp
static_assert(8 * kNtOf<4> * 4 == kBN && 8 * kNtOf<8> * 8 == kBN, "the warps tile the block");
// cp.async ring depth: 3 tiles at 64 rows (42 KB of shared memory, 4 blocks per SM), else 4.
template <int MT>
constexpr int kStages = MT == 4 ? 3 : 4;
// K-tiles per ring barrier: 2 at 16 rows (each warp has two tiles' dequantization and mma
// chains to interleave, 2 tiles in flight meanwhile; bench/NOTES.md run 193: 8B x 16 +12.3 %,
// with 6 stages -13 %), else 1.
template <int MT>
constexpr int kPer = MT == 1 ? 2 : 1;
constexpr int kLdx = kK + 8;           // x row stride in shared memory (16-bit values)

using weights::BF16Tag;
using weights::F16Tag;
using weights::pack2;

// ---- operand-type helpers -------------------------------------------------------------------

// 4-bit dequantization in the operand type. A code c (0..15) in the low byte of the "magic"
// M (bf16 128 = 0x4300, f16 1024 = 0x6400) is the exact value M + c; fma(M + c, 1, −M) = c
// exactly, then fma(c, s, b) rounds once (fmaf + rounding to the operand type may differ by a
// tie after its f32 rounding).
struct Magic {
  uint32_t byte4;            // the magic's high byte in every byte
  uint32_t one2, neg_magic2;
};
__device__ __forceinline__ Magic magic(BF16Tag) { return {0x43434343u, 0x3F803F80u, 0xC300C300u}; }
__device__ __forceinline__ Magic magic(F16Tag) { return {0x64646464u, 0x3C003C00u, 0xE400E400u}; }

__device__ __forceinline__ uint32_t fma2(uint32_t a, uint32_t b, uint32_t c, BF16Tag) {
  uint32_t d;
  asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}
__device__ __forceinline__ uint32_t fma2(uint32_t a, uint32_t b, uint32_t c, F16Tag) {
  uint32_t d;
  asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

// out[0..3] = the pairs (c0,c2), (c4,c6), (c1,c3), (c5,c7) of word (code i = bits 4i..4i+3)
// as s·c + b; sb2 = (scale, bias) word, s2 / b2 built from it.
template <typename Tag>
__device__ __forceinline__ void dequant8(uint32_t word, uint32_t s2, uint32_t b2, uint32_t* out) {
  const Magic m = magic(Tag{});
  const uint32_t even = word & 0x0F0F0F0Fu;        // bytes: codes 0, 2, 4, 6
  const uint32_t odd = (word >> 4) & 0x0F0F0F0Fu;  // bytes: codes 1, 3, 5, 7
  const uint32_t v[4] = {__byte_perm(even, m.byte4, 0x4140), __byte_perm(even, m.byte4, 0x4342),
                         __byte_perm(odd, m.byte4, 0x4140), __byte_perm(odd, m.byte4, 0x4342)};
#pragma unroll
  for (int p = 0; p < 4; ++p) out[p] = fma2(fma2(v[p], m.one2, m.neg_magic2, Tag{}), s2, b2, Tag{});
}

using cp_async::smem_addr;

// ---- x rounding -----------------------------------------------------------------------------

// One thread per float4 chunk of a padded row: xh (n, kpad) = x rounded, positions permuted,
// tail zeros (gemm_x.cuh; producers with an XTarget in this form write the same values).
template <typename Tag>
__global__ void round_x_kernel(const float* __restrict__ x, uint32_t* __restrict__ xh, int n,
                               int n_in, int kpad) {
  pdl::launch_dependents();
  pdl::wait();
  const int c4 = kpad / 4;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<int64_t>(n) * c4) return;
  const int64_t row = i / c4;
  const int c = static_cast<int>(i % c4);
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (c < n_in / 4) v = __ldg(reinterpret_cast<const float4*>(x + row * n_in) + c);
  gemm_x::store_chunk<Tag>(v, c, gemm_x::row(xh, kpad, row));
}

// ---- the GEMM -------------------------------------------------------------------------------

template <int MT, int W, typename Tag>
__global__ void __launch_bounds__(W * 32, W == 8 ? 2 : 4)
    gemm_decode_kernel(const uint4* __restrict__ w, const uint32_t* __restrict__ sb,
                       const float* __restrict__ bias, const uint4* __restrict__ xh,
                       float* __restrict__ y, float* __restrict__ part, int n, int n_out,
                       int n_in, int kpad, int group_shift, int tiles_per_split) {
  constexpr int kRowsM = MT * 16;
  constexpr int kS = kStages<MT>;
  constexpr int kThreads = W * 32;
  constexpr int kNt = kNtOf<W>;
  constexpr int kWChunks = kBN * kK / 2 / 16;   // 16-byte code chunks per tile (2 per row)
  constexpr int kXChunks = kRowsM * kK / 8;     // 16-byte x chunks per tile (8 per row)
  constexpr int kXThreads = kXChunks < kThreads ? kXChunks : kThreads;  // threads loading x
  static_assert(kWChunks % kThreads == 0 && kXChunks % kXThreads == 0, "loads tile the threads");
  __shared__ __align__(16) uint4 ws[kS][kWChunks];          // row r: ws[2r], ws[2r+1]
  __shared__ __align__(16) uint16_t xs[kS][kRowsM * kLdx];  // x rows, padded
  __shared__ __align__(16) uint32_t sbs[kS][kBN * 2];       // ≤ 2 groups per row per tile

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int n0 = blockIdx.x * kBN;
  const int k_tiles = kpad / kK;
  const int t_begin = blockIdx.y * tiles_per_split;
  const int t_end = min(k_tiles, t_begin + tiles_per_split);
  const int n_tiles = max(0, t_end - t_begin);
  const int w_row_chunks = n_in / 32;  // uint4 per weight row
  const int n_groups = n_in >> group_shift;
  // (scale, bias) words per row per tile: 2 for groups of 32, else 1.
  const int gpt = group_shift == 5 ? 2 : 1;

  // No L2 prefetch of the block's weights: each thread's bulk prefetch of its row ran as a
  // 32-step loop per warp (the instruction takes uniform operands), and without it calls took
  // 8-13 % less time (bench/NOTES.md run 187).

  // Load slots, fixed per thread. Each source pointer starts at this split's first tile and
  // steps one tile per load (2 uint4 of codes per weight row, 8 uint4 of x per activation
  // row); rows past the end read row 0 with a zero-byte copy (zeros in shared memory), so no
  // address is chosen per tile. Shared addresses are in stage 0 (stages kWStage / kXStage /
  // kSbStage bytes apart).
  constexpr uint32_t kWStage = kWChunks * 16, kXStage = kRowsM * kLdx * 2, kSbStage = kBN * 8;
  constexpr int kWPer = kWChunks / kThreads, kXPer = kXChunks / kXThreads;
  const uint4* w_src[kWPer];
  uint32_t w_dst[kWPer];
  bool w_row_ok[kWPer];
  const int w_k = 32 * (tid & 1);  // K offset of the thread's chunks within a tile (0 or 32)
#pragma unroll
  for (int i = 0; i < kWPer; ++i) {
    const int c = tid + i * kThreads;
    const int r = c >> 1;
    w_row_ok[i] = n0 + r < n_out;
    w_src[i] = w + static_cast<size_t>(w_row_ok[i] ? n0 + r : 0) * w_row_chunks + (c & 1) +
               2 * t_begin;
    w_dst[i] = smem_addr(&ws[0][c]);
  }
  // x: slot i is row tid / 8 + kXRows·i, chunk tid % 8; rows past n copy zero bytes (their
  // addresses stay inside the 64 rows of xh: gemm_x.cuh).
  constexpr int kXRows = kXThreads / 8;  // rows per x slot
  // Threads that load x and the (scale, bias) words: all of a 4-warp block, warps 0-3 of an
  // 8-warp one (compile-time true at 4 warps, so those instantiations keep their code).
  const bool x_loader = kXThreads == kThreads || tid < kXThreads;
  const bool sb_loader = kBN == kThreads || tid < kBN;
  const uint4* x_src = xh + (tid >> 3) * (kpad / 8) + (tid & 7) + 8 * t_begin;
  const int x_slot_step = kXRows * (kpad / 8);
  const uint32_t x_dst = smem_addr(&xs[0][(tid >> 3) * kLdx + (tid & 7) * 8]);
  const bool sb_row_ok = n0 + tid < n_out;
  const uint32_t* sb_src = sb + static_cast<size_t>(sb_row_ok ? n0 + tid : 0) * n_groups;
  const uint32_t sb_dst = smem_addr(&sbs[0][2 * tid]);
  // Only a K tail (n_in % 64 == 32) has tiles whose second half or group lies past the row.
  const bool k_tail = n_in != kpad;

  // Loads tile `tile` into `stage`; the sources then point at the next tile.
  auto load_w = [&](uint32_t stage, int tile) {
    const int k0 = tile * kK;
#pragma unroll
    for (int i = 0; i < kWPer; ++i) {
      const bool ok = w_row_ok[i] && (!k_tail || k0 + w_k < n_in);
      cp_async::copy<16>(w_dst[i] + stage * kWStage, w_src[i], ok);
      w_src[i] += 2;
    }
    for (int j = 0; sb_loader && j < gpt; ++j) {
      const int gi = (k0 >> group_shift) + j;
      const bool ok = sb_row_ok && (!k_tail || gi < n_groups);
      cp_async::copy<4>(sb_dst + stage * kSbStage + 4 * j, sb_src + gi, ok);
    }
  };
  auto load_x = [&](uint32_t stage) {
#pragma unroll
    for (int i = 0; x_loader && i < kXPer; ++i) {
      const bool ok = (tid >> 3) + kXRows * i < n;
      cp_async::copy<16>(x_dst + stage * kXStage + i * kXRows * kLdx * 2, x_src + i * x_slot_step,
                         ok);
    }
    x_src += 8;
  };

  // Prologue: the first tiles' weights (immutable) before waiting for the producer of x; one
  // commit group per tile throughout.
  constexpr int kP = kPer<MT>;
  static_assert(kS >= 2 * kP, "the ring holds the tiles in use and the ones in flight");
#pragma unroll
  for (int s = 0; s < kS - kP; ++s) {
    if (s < n_tiles) load_w(s, t_begin + s);
  }
  pdl::wait();
#pragma unroll
  for (int s = 0; s < kS - kP; ++s) {
    if (s < n_tiles) load_x(s);
    cp_async::commit();
  }

  float acc[MT][kNt][4];
#pragma unroll
  for (int i = 0; i < MT; ++i) {
#pragma unroll
    for (int j = 0; j < kNt; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
    }
  }

  // Tile i (relative to the split) from stage st into acc.
  auto compute = [&](uint32_t st, int i) {
    const int k0 = (t_begin + i) * kK;
    const int j_sb = ((k0 + 16 * t) >> group_shift) - (k0 >> group_shift);  // 0 or 1
    // Codes and (scale, bias) of this lane's rows: n8 tile nt, row 32·warp + 8·nt + g.
    uint2 codes[kNt];
    uint32_t s2[kNt], b2[kNt];
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt) {
      const int r = 8 * kNt * warp + 8 * nt + g;
      codes[nt] = reinterpret_cast<const uint2*>(&ws[st][2 * r])[t];
      const uint32_t sbv = sbs[st][2 * r + j_sb];
      s2[nt] = __byte_perm(sbv, 0, 0x1010);
      b2[nt] = __byte_perm(sbv, 0, 0x3232);
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      uint32_t bq[kNt][4];  // k-step 2·half: (bq[0], bq[1]); 2·half + 1: (bq[2], bq[3])
#pragma unroll
      for (int nt = 0; nt < kNt; ++nt) {
        dequant8<Tag>(half == 0 ? codes[nt].x : codes[nt].y, s2[nt], b2[nt], bq[nt]);
      }
#pragma unroll
      for (int sub = 0; sub < 2; ++sub) {
        const int ks = 2 * half + sub;
        uint32_t af[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          const int r = mt * 16 + (lane & 15);
          const int c = ks * 16 + (lane >> 4) * 8;
          mma::ldmatrix_x4(af[mt], &xs[st][r * kLdx + c]);
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
          for (int nt = 0; nt < kNt; ++nt) {
            mma::m16n8k16(acc[mt][nt], af[mt], &bq[nt][2 * sub], Tag{});
          }
        }
      }
    }
  };

  // One tile per barrier keeps its own loop: the general one below gave the 32- and 64-row
  // instantiations other registers (117 -> 120, and a 4-byte spill at 64 rows).
  if constexpr (kP == 1) {
    uint32_t st = 0, st_load = kS - 1;  // stages of tile i and of tile i + kS - 1
    for (int i = 0; i < n_tiles; ++i) {
      cp_async::wait<kS - 2>();
      __syncthreads();  // tile i landed for every thread; stage (i-1) % kS is free
      if (i + kS - 1 < n_tiles) {
        load_w(st_load, t_begin + i + kS - 1);
        load_x(st_load);
      }
      cp_async::commit();
      st_load = st_load == kS - 1 ? 0 : st_load + 1;
      compute(st, i);
      st = st == kS - 1 ? 0 : st + 1;
    }
  } else {
    // Tiles i .. i + kP - 1 per iteration: they have landed (every group up to theirs), the
    // stages of the previous iteration's tiles are free, and tiles i + kS - kP .. i + kS - 1
    // go into those.
    uint32_t st = 0;  // stage of tile i
    for (int i = 0; i < n_tiles; i += kP) {
      cp_async::wait<kS - 2 * kP>();
      __syncthreads();
#pragma unroll
      for (int p = 0; p < kP; ++p) {
        const int tl = i + kS - kP + p;
        if (tl < n_tiles) {
          const uint32_t sl = st + kS - kP + p >= kS ? st + p - kP : st + kS - kP + p;
          load_w(sl, t_begin + tl);
          load_x(sl);
        }
        cp_async::commit();
      }
#pragma unroll
      for (int p = 0; p < kP; ++p) {
        if (i + p < n_tiles) compute(st + p >= kS ? st + p - kS : st + p, i + p);
      }
      st = st + kP >= kS ? st + kP - kS : st + kP;
    }
  }
  cp_async::wait<0>();
  pdl::launch_dependents();

  // Accumulator (m16n8): rows g, g + 8 of the m16 tile, output columns 2t, 2t + 1.
  float* out = part != nullptr ? part + static_cast<size_t>(blockIdx.y) * n * n_out : y;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt) {
      const int col = n0 + 8 * kNt * warp + 8 * nt + 2 * t;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = mt * 16 + g + 8 * h;
        if (row >= n) continue;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          if (col + e >= n_out) continue;
          float v = acc[mt][nt][2 * h + e];
          if (part == nullptr && bias != nullptr) v += bias[col + e];
          out[static_cast<size_t>(row) * n_out + col + e] = v;
        }
      }
    }
  }
}

template <int MT, int W, typename Tag>
Status launch_mt(const GemmArgs& a, const uint4* xh, const DecodeGemmPlan& p,
                 cudaStream_t stream) {
  float* part = p.kz > 1 ? a.workspace + p.x_floats : nullptr;
  const dim3 grid(static_cast<unsigned>((a.n_out + kBN - 1) / kBN), static_cast<unsigned>(p.kz));
  int gs = 0;
  while ((1 << gs) < a.group_size) ++gs;
  MLXM_CUDA_LAUNCH_PDL("gemm_decode_kernel", (gemm_decode_kernel<MT, W, Tag>), grid, W * 32,
                       0, stream, a.w, a.sb, a.bias, xh, a.y, part, a.n, a.n_out, a.n_in, p.kpad,
                       gs, p.tiles_per_split);
  if (p.kz > 1) return finish_split_k(a, part, p.kz, stream);
  return ok_status();
}

template <typename Tag>
Status launch_tag(const GemmArgs& a, const DecodeGemmPlan& p, cudaStream_t stream) {
  const uint4* xh = static_cast<const uint4*>(a.x_ready);
  if (xh == nullptr) {
    auto* ws = reinterpret_cast<uint32_t*>(a.workspace);
    const int64_t chunks = int64_t{a.n} * (p.kpad / 4);  // one thread each
    MLXM_CUDA_LAUNCH_PDL("round_x_kernel", round_x_kernel<Tag>,
                         static_cast<unsigned>((chunks + 255) / 256), 256, 0, stream, a.x, ws, a.n,
                         a.n_in, p.kpad);
    xh = reinterpret_cast<const uint4*>(ws);
  }
  // The instantiations the plan can ask for: (16 rows, 8 warps), (32, 8), (32, 4), (64, 4).
  if (p.row_class == 16 && p.warps == 8) return launch_mt<1, 8, Tag>(a, xh, p, stream);
  if (p.row_class == 32 && p.warps == 8) return launch_mt<2, 8, Tag>(a, xh, p, stream);
  if (p.row_class == 32 && p.warps == 4) return launch_mt<2, 4, Tag>(a, xh, p, stream);
  if (p.row_class == 64 && p.warps == 4) return launch_mt<4, 4, Tag>(a, xh, p, stream);
  return internal_error("gemm_decode: no kernel for " + std::to_string(p.row_class) +
                        " rows in blocks of " + std::to_string(p.warps) + " warps");
}

}  // namespace

Status launch_gemm_decode(const GemmArgs& a, cudaStream_t stream) {
  const DecodeGemmPlan p =
      plan_gemm_decode(a.n, a.n_out, a.n_in, a.bits, a.group_size,
                       a.workspace != nullptr ? a.workspace_floats : 0, a.decode, gemm_sm_count());
  if (!p.use) return unimplemented(std::string("gemm_decode: ") + p.why);
  return a.f16 ? launch_tag<F16Tag>(a, p, stream) : launch_tag<BF16Tag>(a, p, stream);
}

}  // namespace mlxm::engine::cuda::detail
