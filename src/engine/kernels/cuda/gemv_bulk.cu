// The stream GEMV (gemv_stream.cu) with its weights brought by the bulk copy engine
// (ForwardOptions::gemv_bulk; bulk_copy.cuh): y (n, n_out) = x (n, n_in) · Wᵀ (+ bias), n = 1..8,
// x already quantized by gemv_i8.cu's launch.
//
// The stream kernel's warps each issue 8 per-lane cp.async per step (4 rows × 16 bytes of codes,
// 4 scale words) and then compute it: a latency-bound instruction chain per warp (the layer chain
// of bench/NOTES.md runs 58-64 measured 0.35 instructions issued per scheduler cycle). Here a
// block has one producer warp and kConsumers consumer warps. Lane w of the producer walks
// consumer w's steps (4-row group, piece of kPieceUnits 32-value units: 1 KB per row) and brings
// each step into the consumer's kStages-deep ring with 8 bulk copies (each row's codes, each
// row's (scale, bias) words) completing on the slot's mbarrier; the consumer only waits, reads
// shared memory and computes. The first steps are requested before pdl::wait() (weights are
// immutable).
//
// Work and order are the stream kernel's: consumer warp cw of TW takes groups cw, cw + TW, ...
// and lane l sums its units l, l + 32, ... in order, then the butterfly: rows are bit-identical
// to gemv_stream_kernel's (CudaGemvBulkTest), the RoPE epilogue included. With more groups than
// warps and a ticket counter (GemvI8Args::ticket), the groups after a warp's first are the
// counter's next instead (the producer tells the consumer which, in the slot): warps whose
// copies came sooner take more, and a group is still one warp's work in the same order.
// Rings have 3 slots (4 blocks per SM), or 4 (GemvI8Args::deep: 3 blocks per SM, for layers
// with long rows and at most one group per warp, whose warps walk more pieces than 3 slots
// hold: the 8B down projection's 7; bench/NOTES.md run 112). They live in dynamic shared
// memory (61 KB per block with 4 slots).
// At one activation row a lane sums the same units of x for every group it takes, so where they
// fit (x_reg_units: rows of at most 8,192 4-bit values) it loads them once per launch into
// registers, and then frees each slot before its math (bench/NOTES.md runs 217-219: 3B batch
// 1 +4.3 %). The sums and their order are unchanged.
// Needs n_in a multiple of 4 · group_size (the scale words of a piece fill 16-byte copies).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "engine/kernels/cuda/bulk_copy.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/gemm.cuh"
#include "engine/kernels/cuda/gemv_dot.cuh"
#include "engine/kernels/cuda/gemv_i8.cuh"
#include "engine/kernels/cuda/gemv_rope.cuh"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/timeline.cuh"
#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda {

namespace {

using detail::GemvRope;
using gemv_rope::group_row;
using weights::half_bits_to_f;

constexpr int kConsumers = 3;             // consumer warps per block (warp 0 produces)
constexpr int kThreads = (kConsumers + 1) * 32;
constexpr int kStagesWide = 3;            // ring slots per consumer
constexpr int kStagesDeep = 4;            // long rows, few groups (gemv_bulk_deep_fits)
constexpr int kRows = 4;                  // weight rows per step
constexpr int kSbWords = 64;              // (scale, bias) words per row and piece: 2048 / 32
constexpr int kBlocksPerSm = 4;           // ~46 KB of shared memory each (3 slots)
constexpr int kBlocksPerSmDeep = 3;       // ~61 KB each (4 slots)

// A block's ring: per consumer and slot 4 rows of 1 KB of codes and kSbWords words.
constexpr int ring_smem_bytes(int stages) {
  return kConsumers * stages * kRows * (1024 + kSbWords * 4);
}

// Per-step stamps of one layer's launches (timeline builds, gemv_probe_select / _dump in
// cuda_ops.h): in launches of the selected (n_out, n_in), the producer lane that feeds each
// block's first consumer stamps when it issues step t's copies, and that consumer's lane 0
// when it starts, when pdl::wait() returns, when step t's slot is full and when it is done
// with it, and its end. Every such launch overwrites them: afterwards they hold the last one.
#ifdef MLXM_CUDA_TIMELINE
namespace probe {
constexpr int kSteps = 16;
struct Rec {
  unsigned long long start, wait, end;
  unsigned long long issue[kSteps], ready[kSteps], done[kSteps];
};
__device__ int2 g_shape;                        // (n_out, n_in); (0, 0): none
__device__ Rec g_rec[timeline::kChainBlocks];  // per block
__device__ __forceinline__ bool on(int n_out, int n_in) {
  return g_shape.x == n_out && g_shape.y == n_in && blockIdx.x < timeline::kChainBlocks;
}
}  // namespace probe
#define MLXM_GEMV_PROBE(cond, field)                               \
  do {                                                             \
    if (cond) probe::g_rec[blockIdx.x].field = timeline::now_ns(); \
  } while (0)
#else
#define MLXM_GEMV_PROBE(cond, field) ((void)0)
#endif

template <int BITS>
struct BulkCfg {
  static constexpr int kCh = BITS / 4;                 // 16-byte code chunks per unit
  static constexpr int kPieceUnits = 64 / kCh;         // units per step: 1 KB of codes per row
  static constexpr int kUnitsPerLane = kPieceUnits / 32;
};

// The 32-value units a lane sums over a row: per piece kUnitsPerLane, unit h·32 + lane of it.
// x_unit_reg(k, lane) is the lane's k-th (piece k / kUnitsPerLane), past n_units at the end.
template <int BITS>
__host__ __device__ constexpr int x_unit_reg(int k, int lane) {
  constexpr int kUPL = BulkCfg<BITS>::kUnitsPerLane;
  return (k / kUPL) * BulkCfg<BITS>::kPieceUnits + (k % kUPL) * 32 + lane;
}

// x's units per lane (NR 1) held in registers for the whole launch: 4 or 8 (x_reg_units), or 0
// (loaded per step; also for more activation rows). 8 units are 80 registers: 3B's down
// projection (8,192 values, 4-bit) has 8, 8B's (14,336) 14, which stay loaded per step.
template <int BITS>
int x_reg_units(int n_in) {
  const int pieces = (n_in / 32 + BulkCfg<BITS>::kPieceUnits - 1) / BulkCfg<BITS>::kPieceUnits;
  const int units = pieces * BulkCfg<BITS>::kUnitsPerLane;
  return units <= 4 ? 4 : units <= 8 ? 8 : 0;
}

// XR > 0: the blocks per SM stated, so that x's registers neither spill nor cost a block.
template <int BITS, typename Tag, int NR, bool ROPE, bool DYN, int kStages, int XR>
__global__ void __launch_bounds__(kThreads, XR == 0                ? 0
                                            : kStages == kStagesDeep ? kBlocksPerSmDeep
                                                                     : kBlocksPerSm)
    gemv_bulk_kernel(const uint4* __restrict__ w, const uint32_t* __restrict__ sb,
                     const float* __restrict__ bias, const uint4* __restrict__ xq,
                     const float2* __restrict__ xds, float* __restrict__ y, int n_out, int n_in,
                     int n, int group_shift, GemvRope rope, bool evict_first, int* ticket) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  // Bulk copies and mbarrier transaction counts are sm_90 features; the host never launches
  // this kernel below (detail::device_has_bulk_copy), but every architecture compiles it.
  __trap();
#else
  MLXM_CHAIN_BEGIN(timeline::kGemvBulk, threadIdx.x == 32, w);  // the first consumer's lane 0
#ifdef MLXM_CUDA_TIMELINE
  const unsigned long long probe_start = timeline::now_ns();  // before probe::on's load
  const bool probed = probe::on(n_out, n_in);
  if (probed && threadIdx.x == 32) probe::g_rec[blockIdx.x].start = probe_start;
#endif
  constexpr int kCh = BulkCfg<BITS>::kCh;
  constexpr int kPU = BulkCfg<BITS>::kPieceUnits;
  // [consumer][slot][row][unit·chunk]: a lane reads its own 16-byte chunks, 16 bytes apart
  // across lanes (conflict-free).
  extern __shared__ __align__(128) unsigned char s_dyn[];  // ring_smem_bytes(kStages)
  auto s_w = reinterpret_cast<uint4(*)[kStages][kRows][kPU * kCh]>(s_dyn);
  auto s_sb = reinterpret_cast<uint32_t(*)[kStages][kRows][kSbWords]>(
      s_dyn + sizeof(uint4) * kConsumers * kStages * kRows * kPU * kCh);
  __shared__ __align__(8) uint64_t s_full[kConsumers][kStages];
  __shared__ __align__(8) uint64_t s_empty[kConsumers][kStages];
  __shared__ int s_group[kConsumers][kStages];  // DYN: the group of the slot's piece, -1: end

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int n_units = n_in / 32;
  const int n_pieces = (n_units + kPU - 1) / kPU;
  const int n_groups = n_in >> group_shift;     // (scale, bias) words per row
  const int piece_groups = (kPU * 32) >> group_shift;
  const int n_rg = (n_out + kRows - 1) / kRows;
  const int quarter = ROPE ? rope.head_dim / 4 : 0;  // group_row
  const int tw = gridDim.x * kConsumers;
  const ptrdiff_t w_stride = static_cast<ptrdiff_t>(n_units) * kCh;  // uint4 per weight row

  if (threadIdx.x == 0) {
    for (int c = 0; c < kConsumers; ++c) {
      for (int s = 0; s < kStages; ++s) {
        bulk_copy::init(&s_full[c][s], 1);
        bulk_copy::init(&s_empty[c][s], 1);
      }
    }
    bulk_copy::fence_init();
  }
  __syncthreads();

  if (warp == 0) {
    // Producer: lane c feeds consumer c (weights only: no pdl::wait()).
    if (lane < kConsumers) {
      // GemvI8Args::evict_first: an L2 policy for the weights' copies.
      const uint64_t policy = evict_first ? bulk_copy::evict_first_policy() : 0;
      const int cw = blockIdx.x * kConsumers + lane;
      int t = 0;
      // Waits until step t's slot is free (not on its first use).
      auto free_slot = [&]() {
        const int slot = t % kStages;
        if (t >= kStages) bulk_copy::wait(&s_empty[lane][slot], ((t / kStages) - 1) & 1);
        return slot;
      };
      // Step t: piece p of group g into its slot.
      auto fill = [&](int g, int p) {
        const int slot = free_slot();
        MLXM_GEMV_PROBE(probed && lane == 0 && t < probe::kSteps, issue[t]);
        if (DYN && p == 0) s_group[lane][slot] = g;
        const int units = min(kPU, n_units - p * kPU);
        const uint32_t code_bytes = static_cast<uint32_t>(units) * 16u * kCh;
        const uint32_t sb_bytes = static_cast<uint32_t>((units * 32) >> group_shift) * 4u;
        bulk_copy::arrive_expect_tx(&s_full[lane][slot], kRows * (code_bytes + sb_bytes));
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const ptrdiff_t row = min(group_row<ROPE>(g, r, quarter), n_out - 1);
          const uint4* codes = w + row * w_stride + p * kPU * kCh;
          const uint32_t* words = sb + row * n_groups + p * piece_groups;
          if (evict_first) {
            bulk_copy::copy_hint(&s_w[lane][slot][r][0], codes, code_bytes, &s_full[lane][slot],
                                 policy);
            bulk_copy::copy_hint(&s_sb[lane][slot][r][0], words, sb_bytes, &s_full[lane][slot],
                                 policy);
          } else {
            bulk_copy::copy(&s_w[lane][slot][r][0], codes, code_bytes, &s_full[lane][slot]);
            bulk_copy::copy(&s_sb[lane][slot][r][0], words, sb_bytes, &s_full[lane][slot]);
          }
        }
        ++t;
      };
      if constexpr (DYN) {
        // Groups cw, then the ticket counter's: tw + k for the k-th ticket, taken a group
        // ahead (its round trip overlaps the copies). All tickets: n_rg - tw that name a
        // group, then one past them per lane (tw); the last leaves the counter zero for the
        // layer's next launch. A slot with group -1 ends the consumer.
        auto take = [&]() {
          const int k = atomicAdd(ticket, 1);
          if (k == n_rg - 1) atomicExch(ticket, 0);
          return tw + k;
        };
        for (int g = cw, next = take(); g < n_rg; g = next, next = g < n_rg ? take() : g) {
          for (int p = 0; p < n_pieces; ++p) fill(g, p);
        }
        const int slot = free_slot();
        s_group[lane][slot] = -1;
        bulk_copy::arrive(&s_full[lane][slot]);
      } else {
        for (int g = cw; g < n_rg; g += tw) {
          for (int p = 0; p < n_pieces; ++p) fill(g, p);
        }
      }
    }
  } else {
    const int c = warp - 1;
    const int cw = blockIdx.x * kConsumers + c;
    const int x_stride = n_in / 16;  // uint4 per activation row of xq
    // The K/V of the step's attention into L2 meanwhile (RopeStore::block_tables; workers
    // numbered across blocks first).
    if constexpr (ROPE) {
      gemv_rope::prefetch_kv(rope, n, lane * tw + c * gridDim.x + blockIdx.x, tw * 32);
    }
    pdl::wait();
    MLXM_CHAIN_WAIT();
    MLXM_GEMV_PROBE(probed && threadIdx.x == 32, wait);
    // XR > 0 (one activation row): the lane's units of x for the whole launch, in registers
    // (x_unit_reg); its loads' round trip overlaps the first slot's wait.
    gemv_dot::XUnit xr[XR > 0 ? XR : 1];
    // Where the registers allow (no spills at 3 or 4 blocks per SM), the slot is freed before
    // the math.
    constexpr bool kEarlyFree = XR == 4 || (XR == 8 && kStages == kStagesDeep);
    if constexpr (XR > 0) {
#pragma unroll
      for (int k = 0; k < XR; ++k) {
        const int u = x_unit_reg<BITS>(k, lane);
        xr[k] = u < n_units ? gemv_dot::load_x_unit(xq, xds, x_stride, n_units, u, 0)
                            : gemv_dot::XUnit{};
      }
    }
    int t = 0;
    // Group g's pieces, then its rows out.
    auto group = [&](int g) {
      float acc[kRows][NR];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int j = 0; j < NR; ++j) acc[r][j] = 0.0f;
      }
      // Piece p of the group (step t), x's units from x_of(h, u, j). With x in registers
      // (kEarlyFree) the lane reads all of the slot it needs, frees it, then computes: the
      // refill is issued a step's math sooner (bench/NOTES.md run 218).
      auto piece = [&](int p, auto&& x_of) {
        const int slot = t % kStages;
        bulk_copy::wait(&s_full[c][slot], (t / kStages) & 1);
        MLXM_GEMV_PROBE(probed && threadIdx.x == 32 && t < probe::kSteps, ready[t]);
        constexpr int kU = BulkCfg<BITS>::kUnitsPerLane;
        // The lane's units h < kU of the slot: codes wv[h], scale s[h] and bias b[h] per row
        // (kEarlyFree: all of them first; else one unit at a time, as before).
        uint4 wv[kEarlyFree ? kU : 1][kRows][kCh];
        float s[kEarlyFree ? kU : 1][kRows], b[kEarlyFree ? kU : 1][kRows];
#pragma unroll
        for (int h = 0; h < kU; ++h) {
          const int ul = h * 32 + lane;
          const int u = p * kPU + ul;
          const int i = kEarlyFree ? h : 0;
          if (kEarlyFree || u < n_units) {  // the slot's reads stay within it either way
            const int gi = (ul * 32) >> group_shift;
#pragma unroll
            for (int r = 0; r < kRows; ++r) {
#pragma unroll
              for (int k = 0; k < kCh; ++k) wv[i][r][k] = s_w[c][slot][r][ul * kCh + k];
              const uint32_t sbv = s_sb[c][slot][r][gi];
              s[i][r] = half_bits_to_f(sbv & 0xFFFFu, Tag{});
              b[i][r] = half_bits_to_f(sbv >> 16, Tag{});
            }
          }
          if (!kEarlyFree && u < n_units) {
            gemv_dot::accumulate_unit_x<BITS>(wv[0], s[0], b[0], [&](int j) {
              return x_of(h, u, j);
            }, acc);
          }
        }
        __syncwarp();  // every lane has read the slot
        if (lane == 0) bulk_copy::arrive(&s_empty[c][slot]);
        if constexpr (kEarlyFree) {
#pragma unroll
          for (int h = 0; h < kU; ++h) {
            const int u = p * kPU + h * 32 + lane;
            if (u < n_units) {
              gemv_dot::accumulate_unit_x<BITS>(wv[h], s[h], b[h], [&](int j) {
                return x_of(h, u, j);
              }, acc);
            }
          }
        }
        MLXM_GEMV_PROBE(probed && threadIdx.x == 32 && t < probe::kSteps, done[t]);
        ++t;
      };
      if constexpr (XR > 0) {
        // Unrolled, so that xr is indexed by constants (registers, not local memory).
#pragma unroll
        for (int p = 0; p < XR / BulkCfg<BITS>::kUnitsPerLane; ++p) {
          if (p < n_pieces) {
            piece(p, [&](int h, int, int) { return xr[p * BulkCfg<BITS>::kUnitsPerLane + h]; });
          }
        }
      } else {
        for (int p = 0; p < n_pieces; ++p) {
          piece(p, [&](int, int u, int j) {
            return gemv_dot::load_x_unit(xq, xds, x_stride, n_units, u, min(j, n - 1));
          });
        }
      }
      gemv_rope::store_group<NR, ROPE>(acc, g, quarter, n, n_out, bias, y, rope, lane);
    };
    if constexpr (DYN) {
      // The group comes with its first piece (a second wait on that full phase returns at
      // once: the slot is not refilled before this warp frees it).
      for (;;) {
        const int slot = t % kStages;
        bulk_copy::wait(&s_full[c][slot], (t / kStages) & 1);
        const int g = s_group[c][slot];
        if (g < 0) break;
        group(g);
      }
    } else {
      for (int g = cw; g < n_rg; g += tw) group(g);
    }
  }
  MLXM_GEMV_PROBE(probed && threadIdx.x == 32, end);
  MLXM_CHAIN_END();
  pdl::launch_dependents();
#endif
}

template <int BITS, typename Tag, int NR, bool ROPE, int XR>
Status launch_x(const detail::GemvI8Args& a, const uint4* xq, const float2* xds,
                cudaStream_t stream) {
  const unsigned blocks = detail::stream_blocks(a.n_out, kConsumers, kBlocksPerSm);
  const int64_t n_rg = (int64_t{a.n_out} + kRows - 1) / kRows;
  // More 4-row groups than consumer warps: the groups after each warp's first are handed out
  // by the layer's ticket counter, so that warps that got their bytes sooner take more (run
  // 106-107: 8B's gate/up, 4.5 groups per warp).
  const bool dyn = a.ticket != nullptr && n_rg > int64_t{blocks} * kConsumers;
  auto kernel = dyn ? gemv_bulk_kernel<BITS, Tag, NR, ROPE, true, kStagesWide, XR>
                    : gemv_bulk_kernel<BITS, Tag, NR, ROPE, false, kStagesWide, XR>;
  unsigned grid = blocks;
  int smem = ring_smem_bytes(kStagesWide);
  // Long rows, few groups (detail::gemv_bulk_deep_fits, so never the ticket order): 4 slots,
  // above the 48 KB of shared memory a kernel gets without asking (raised once per kernel).
  if constexpr (!ROPE) {
    if (a.deep) {
      constexpr int kSmem = ring_smem_bytes(kStagesDeep);
      kernel = gemv_bulk_kernel<BITS, Tag, NR, ROPE, false, kStagesDeep, XR>;
      static const cudaError_t attr =
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
      if (attr != cudaSuccess) {
        return internal_error(std::string("gemv_bulk: shared memory attribute: ") +
                              cudaGetErrorString(attr));
      }
      grid = detail::stream_blocks(a.n_out, kConsumers, kBlocksPerSmDeep);
      smem = kSmem;
    }
  }
  MLXM_CUDA_LAUNCH_PDL("gemv_bulk_kernel", kernel, grid, kThreads, smem, stream, a.w, a.sb,
                       a.bias, xq, xds, a.y, a.n_out, a.n_in, a.n,
                       detail::log2_exact(a.group_size), a.rope, a.evict_first, a.ticket);
  return ok_status();
}

// One activation row: x in registers where the lane's units fit (x_reg_units).
template <int BITS, typename Tag, int NR, bool ROPE>
Status launch(const detail::GemvI8Args& a, const uint4* xq, const float2* xds,
              cudaStream_t stream) {
  if constexpr (NR == 1) {
    const int xr = x_reg_units<BITS>(a.n_in);
    if (xr == 4) return launch_x<BITS, Tag, NR, ROPE, 4>(a, xq, xds, stream);
    if (xr == 8) return launch_x<BITS, Tag, NR, ROPE, 8>(a, xq, xds, stream);
  }
  return launch_x<BITS, Tag, NR, ROPE, 0>(a, xq, xds, stream);
}

}  // namespace

namespace detail {

bool gemv_bulk_deep_fits(int64_t n_out, int64_t n_in, int bits) {
  if (bits != 4 && bits != 8) return false;
  const int64_t piece_values = 32 * int64_t{bits == 4 ? BulkCfg<4>::kPieceUnits
                                                      : BulkCfg<8>::kPieceUnits};
  const int64_t n_pieces = (n_in + piece_values - 1) / piece_values;
  const int64_t n_rg = (n_out + kRows - 1) / kRows;
  const int64_t warps = int64_t{gemm_sm_count()} * kBlocksPerSmDeep * kConsumers;
  return n_pieces >= kStagesDeep && n_rg <= warps;
}

Status launch_gemv_bulk(const GemvI8Args& a, const uint4* xq, const float2* xds,
                        cudaStream_t stream) {
  if (!gemv_bulk_supported(a.n_in, a.group_size)) {
    return invalid_argument("gemv_bulk: n_in must be a multiple of 4 * group_size");
  }
  if (!device_has_bulk_copy()) {
    return invalid_argument("gemv_bulk: needs an sm_90 or newer device (bulk copies)");
  }
  return dispatch_stream(a, [&]<int BITS, typename Tag, int NR, bool ROPE>() {
    return launch<BITS, Tag, NR, ROPE>(a, xq, xds, stream);
  });
}

}  // namespace detail

void gemv_probe_select(int n_out, int n_in) {
#ifdef MLXM_CUDA_TIMELINE
  const int2 shape = make_int2(n_out, n_in);
  (void)cudaMemcpyToSymbol(probe::g_shape, &shape, sizeof(shape));
#else
  (void)n_out;
  (void)n_in;
#endif
}

void gemv_probe_dump() {
#ifdef MLXM_CUDA_TIMELINE
  static probe::Rec h[timeline::kChainBlocks];
  if (cudaMemcpyFromSymbol(h, probe::g_rec, sizeof(h)) != cudaSuccess) return;
  // The last launch: blocks that started within 100 µs of the latest start.
  unsigned long long latest = 0, t0 = ~0ull;
  for (const auto& r : h) latest = std::max(latest, r.start);
  if (latest == 0) return;
  for (const auto& r : h) {
    if (r.start != 0 && r.start + 100000 >= latest) t0 = std::min(t0, r.start);
  }
  auto us = [&](unsigned long long t) {
    return t >= t0 && t <= latest + 1000000 ? static_cast<double>(t - t0) / 1000.0 : -1.0;
  };
  for (int b = 0; b < timeline::kChainBlocks; ++b) {
    const probe::Rec& r = h[b];
    if (r.start == 0 || r.start + 100000 < latest) continue;
    std::fprintf(stderr, "gemv-probe %d %.3f %.3f %.3f", b, us(r.start), us(r.wait), us(r.end));
    for (int t = 0; t < probe::kSteps; ++t) {
      std::fprintf(stderr, " %.3f %.3f %.3f", us(r.issue[t]), us(r.ready[t]), us(r.done[t]));
    }
    std::fprintf(stderr, "\n");
  }
#endif
}

}  // namespace mlxm::engine::cuda

MLXM_CHAIN_DUMP_UNIT(gemv_bulk)  // this unit's kernel-chain rings (timeline.cuh)
