// Programmatic dependent launch (PDL, sm_90+) for the kernels of a decode step.
//
// A step is a chain of ~10-15 short kernels per layer; between two of them the GPU would
// drain the first grid, then launch and ramp up the next one (a few µs each, most of a small
// GEMV's time). Launched with pdl::launch, a kernel may start while its predecessor in the
// stream still runs: it does what does not depend on the predecessor (block set-up, and the
// linears prefetch their weights into L2), then pdl::wait() blocks until the predecessor has
// completed and its writes are visible. A kernel calls pdl::launch_dependents() once the
// successor may start (the successor still waits for this kernel's completion in its own
// pdl::wait()).
//
// Rules for every kernel launched with pdl::launch:
// - call pdl::wait() before reading anything an earlier kernel wrote and before writing
//   anything (an earlier kernel may still read it); only immutable data (weights, norms) may
//   be touched before it;
// - pdl::wait() waits for the direct predecessor only, which itself waited for its own: the
//   chain is transitive as long as every kernel in it calls pdl::wait() (kernels launched the
//   ordinary way are fully serialized and end the chain).
// Off (ordinary launches, the device calls are no-ops) below sm_90 or with MLXM_CUDA_PDL=0.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/cuda_check.cuh"

namespace mlxm::engine::cuda::pdl {

// Blocks until the predecessor grid has completed and its memory is visible.
__device__ __forceinline__ void wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Lets the successor grid be scheduled once every block of this grid has called it (or exited).
__device__ __forceinline__ void launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

namespace detail {
constexpr uintptr_t kPrefetchPiece = 64 * 1024;

// Prefetches the pieces first, first + step, ... of [p, p + bytes) widened to 16-byte
// boundaries, each of at most kPrefetchPiece bytes.
__device__ __forceinline__ void prefetch_pieces(const void* p, size_t bytes, uintptr_t first,
                                                uintptr_t step) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{15};
  const uintptr_t a1 = (reinterpret_cast<uintptr_t>(p) + bytes + 15) & ~uintptr_t{15};
  for (uintptr_t s = a0 + first * kPrefetchPiece; s < a1; s += step * kPrefetchPiece) {
    const uint32_t len = static_cast<uint32_t>(a1 - s < kPrefetchPiece ? a1 - s : kPrefetchPiece);
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(s), "r"(len) : "memory");
  }
#else
  (void)p;
  (void)bytes;
  (void)first;
  (void)step;
#endif
}
}  // namespace detail

// Asynchronous prefetch of [p, p + bytes) into L2 by a block (a hint: no fault, no
// completion), widened to 16-byte boundaries, in pieces of at most 64 KiB that the block's
// threads issue in turn. Only for immutable data (weights).
__device__ __forceinline__ void prefetch_l2(const void* p, size_t bytes) {
  detail::prefetch_pieces(p, bytes, threadIdx.x, blockDim.x);
}

// Whether launches carry the PDL attribute: device 0 is sm_90+ and MLXM_CUDA_PDL is not 0
// (read once per process).
bool enabled();

// kernel<<<grid, block, smem, stream>>>(args...) as thread-block clusters of `cluster` blocks
// along x (1: no cluster attribute), with the PDL attribute when enabled().
template <typename... Params, typename... Args>
cudaError_t launch_clusters(void (*kernel)(Params...), dim3 grid, unsigned cluster, dim3 block,
                            size_t smem, cudaStream_t stream, Args... args) {
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (cluster > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = cluster;
    attr[n].val.clusterDim.y = 1;
    attr[n].val.clusterDim.z = 1;
    ++n;
  }
  if (enabled()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = n;
  return cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...);
}

// kernel<<<grid, block, smem, stream>>>(args...) with the PDL attribute when enabled().
template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, Args... args) {
  return launch_clusters(kernel, grid, 1, block, smem, stream, args...);
}

}  // namespace mlxm::engine::cuda::pdl

// pdl::launch + the checks of MLXM_CUDA_CHECK_LAUNCH, returning a Status on failure.
#define MLXM_CUDA_LAUNCH_PDL(name, kernel, grid, block, smem, stream, ...)                  \
  do {                                                                                    \
    const cudaError_t _mlxm_pdl_err =                                                     \
        ::mlxm::engine::cuda::pdl::launch(kernel, grid, block, smem, stream, __VA_ARGS__); \
    if (_mlxm_pdl_err != cudaSuccess)                                                     \
      return ::mlxm::engine::cuda::detail::cuda_status(_mlxm_pdl_err, "launch of " name,  \
                                                        __FILE__, __LINE__);              \
    MLXM_CUDA_CHECK_LAUNCH(name);                                                         \
  } while (0)
