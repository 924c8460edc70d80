// Per-block phase stamps of a kernel (a diagnostic of the decode attention, ops.cu). Compiled
// in only with -DMLXM_CUDA_TIMELINE (tools/gpu/check.sh with MLXM_CUDA_TIMELINE=1; read by
// tools/gpu/attn_timeline.sh); otherwise every stamp is nothing. Thread 0 of each block
// writes %globaltimer (ns) at phase k into slot [block][k], after the values it is given have
// arrived (an empty asm that uses them), so a stamp after loads marks their completion. Every
// launch overwrites the slots: after a run they hold the last launch.
//
// The kernel chain of a decode step, in the same builds (tools/gpu/attn_timeline.sh summarizes
// it with chain_timeline.py): the kernels of a step (the stream and bulk GEMVs, the decode
// attention, the norms, SiLU·mul) record per block and launch {start, pdl::wait() returned,
// end} and a tag that tells the launches of a step apart (the weight pointer of a GEMV or
// norm, the K cache of an attention) into a ring per (kind, block) that holds the last
// kChainLaunches launches. One thread per block records (the one that waits and works; a bulk
// GEMV's first consumer lane); it takes its slot by an atomic at entry, whose result it needs
// only at its end, so a record adds no round trip to the kernel's path. Each translation unit
// has its own rings (chain_dump_this_unit).
#pragma once

#include <cstdint>
#include <cstdio>

#ifdef MLXM_CUDA_TIMELINE
#include <cuda_runtime.h>

#include <vector>
#endif

namespace mlxm::engine::cuda::timeline {

inline constexpr int kBlocks = 1024;
inline constexpr int kPhases = 8;

#ifdef MLXM_CUDA_TIMELINE
__device__ __forceinline__ void use(int v) { asm volatile("" ::"r"(v) : "memory"); }
__device__ __forceinline__ void use(float v) { asm volatile("" ::"f"(v) : "memory"); }

__device__ __forceinline__ unsigned long long now_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  return t;
}

// Phase k of this block into slots (kBlocks × kPhases) once `vals` have arrived.
template <typename... V>
__device__ __forceinline__ void stamp(unsigned long long (*slots)[kPhases], int k, V... vals) {
  (use(vals), ...);
  if (threadIdx.x != 0) return;
  const unsigned b = blockIdx.y * gridDim.x + blockIdx.x;
  if (b >= static_cast<unsigned>(kBlocks)) return;
  slots[b][k] = now_ns();
}
#endif

// Kernel kinds of the chain (the first field of a "chain" line).
enum ChainKind : int { kGemvBulk = 0, kGemvStream = 1, kAttnDecode = 2, kNorm = 3, kSiluMul = 4 };
inline constexpr int kChainKinds = 5;
inline constexpr int kChainBlocks = 576;    // blocks past this are not recorded
inline constexpr int kChainLaunches = 160;  // per (kind, block): a whole 8B step's GEMVs

struct ChainEntry {
  unsigned long long start;  // %globaltimer (ns)
  unsigned wait_ns;          // pdl::wait() returned, from start (0: not recorded)
  unsigned end_ns;           // the block's work done, from start
  unsigned long long tag;    // tells a step's launches of one kind apart
};

struct ChainRings {
  ChainEntry e[kChainKinds][kChainBlocks][kChainLaunches];
  unsigned cursor[kChainKinds][kChainBlocks];
};

#ifdef MLXM_CUDA_TIMELINE
namespace {
__device__ ChainRings g_chain;  // this translation unit's rings
}  // namespace


// One block's record of one launch, held by its recording thread.
struct ChainMark {
  bool on = false;
  int kind = 0;
  unsigned block = 0;
  unsigned cursor = 0;
  unsigned long long start = 0, wait = 0;
  unsigned long long tag = 0;
};

__device__ __forceinline__ ChainMark chain_begin(int kind, bool recorder, const void* tag) {
  ChainMark m;
  const unsigned b = blockIdx.y * gridDim.x + blockIdx.x;
  if (!recorder || b >= static_cast<unsigned>(kChainBlocks)) return m;
  m.on = true;
  m.kind = kind;
  m.block = b;
  m.start = now_ns();
  // Taken at entry, used only at the end. An atomic: under PDL a block of the launch after
  // next can start before this one ends, and a plain read would give both the same slot.
  m.cursor = atomicAdd(&g_chain.cursor[kind][b], 1u);
  m.tag = reinterpret_cast<unsigned long long>(tag);
  return m;
}

__device__ __forceinline__ void chain_wait(ChainMark& m) {
  if (m.on) m.wait = now_ns();
}

__device__ __forceinline__ void chain_end(const ChainMark& m) {
  if (!m.on) return;
  const unsigned long long t = now_ns();
  ChainEntry& e = g_chain.e[m.kind][m.block][m.cursor % kChainLaunches];
  e.start = m.start;
  e.wait_ns = m.wait != 0 ? static_cast<unsigned>(m.wait - m.start) : 0u;
  e.end_ns = static_cast<unsigned>(t - m.start);
  e.tag = m.tag;
}

// Host: this translation unit's latest recorded start (mode 0), or its entries that started at
// or after from_ns as lines "chain KIND BLOCK START WAIT_NS END_NS TAG" on stderr (mode 1).
static inline unsigned long long chain_dump_this_unit(int mode, unsigned long long from_ns) {
  std::vector<ChainEntry> h(sizeof(ChainRings) / sizeof(ChainEntry));
  if (cudaMemcpyFromSymbol(h.data(), g_chain, kChainKinds * kChainBlocks * kChainLaunches *
                                                  sizeof(ChainEntry)) != cudaSuccess) {
    return 0;
  }
  unsigned long long latest = 0;
  for (int k = 0; k < kChainKinds; ++k) {
    for (int b = 0; b < kChainBlocks; ++b) {
      for (int l = 0; l < kChainLaunches; ++l) {
        const ChainEntry& e = h[(static_cast<size_t>(k) * kChainBlocks + b) * kChainLaunches + l];
        if (e.start == 0) continue;
        latest = e.start > latest ? e.start : latest;
        if (mode == 1 && e.start >= from_ns) {
          std::fprintf(stderr, "chain %d %d %llu %u %u %llx\n", k, b, e.start, e.wait_ns,
                       e.end_ns, e.tag);
        }
      }
    }
  }
  return latest;
}
// Each unit's chain_dump_this_unit (MLXM_CHAIN_DUMP_UNIT in ops.cu, elementwise.cu, fused.cu,
// gemv_bulk.cu, gemv_stream.cu, attention_decode_whole.cu, attention_decode_whole_grouped.cu);
// ops.cu's chain_timeline_dump() (cuda_ops.h) calls them all.
unsigned long long chain_dump_ops(int mode, unsigned long long from_ns);
unsigned long long chain_dump_elementwise(int mode, unsigned long long from_ns);
unsigned long long chain_dump_fused(int mode, unsigned long long from_ns);
unsigned long long chain_dump_gemv_bulk(int mode, unsigned long long from_ns);
unsigned long long chain_dump_gemv_stream(int mode, unsigned long long from_ns);
unsigned long long chain_dump_attention_decode_whole(int mode, unsigned long long from_ns);
unsigned long long chain_dump_attention_decode_whole_grouped(int mode, unsigned long long from_ns);
#define MLXM_CHAIN_BEGIN(kind, recorder, tag) \
  ::mlxm::engine::cuda::timeline::ChainMark mlxm_chain = \
      ::mlxm::engine::cuda::timeline::chain_begin(kind, recorder, tag)
#define MLXM_CHAIN_WAIT() ::mlxm::engine::cuda::timeline::chain_wait(mlxm_chain)
// At namespace scope of a unit with chain records: defines its chain_dump_NAME (above).
#define MLXM_CHAIN_DUMP_UNIT(name)                                                         \
  namespace mlxm::engine::cuda::timeline {                                                 \
  unsigned long long chain_dump_##name(int mode, unsigned long long from_ns) {             \
    return chain_dump_this_unit(mode, from_ns);                                            \
  }                                                                                        \
  }
#define MLXM_CHAIN_END() ::mlxm::engine::cuda::timeline::chain_end(mlxm_chain)
#else
#define MLXM_CHAIN_BEGIN(kind, recorder, tag) ((void)0)
#define MLXM_CHAIN_WAIT() ((void)0)
#define MLXM_CHAIN_DUMP_UNIT(name)
#define MLXM_CHAIN_END() ((void)0)
#endif

}  // namespace mlxm::engine::cuda::timeline
