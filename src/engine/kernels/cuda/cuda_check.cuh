// Internal to kernels/cuda: CUDA error checks that return a Status (never abort).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "core/status.h"

namespace mlxm::engine::cuda::detail {

inline Status cuda_status(cudaError_t e, const char* what, const char* file, int line) {
  std::string msg = std::string("CUDA: ") + what + " failed: " + cudaGetErrorName(e) + " (" +
                    cudaGetErrorString(e) + ") at " + file + ":" + std::to_string(line);
  if (e == cudaErrorMemoryAllocation) return resource_exhausted(std::move(msg));
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) return unavailable(std::move(msg));
  return internal_error(std::move(msg));
}

}  // namespace mlxm::engine::cuda::detail

#define MLXM_CUDA_TRY(expr)                                                               \
  do {                                                                                    \
    const cudaError_t _mlxm_cu_err = (expr);                                              \
    if (_mlxm_cu_err != cudaSuccess)                                                      \
      return ::mlxm::engine::cuda::detail::cuda_status(_mlxm_cu_err, #expr, __FILE__,     \
                                                        __LINE__);                        \
  } while (0)

// After a kernel launch: configuration errors (and earlier asynchronous ones) surface here.
#define MLXM_CUDA_CHECK_LAUNCH(name)                                                      \
  do {                                                                                    \
    const cudaError_t _mlxm_cu_err = cudaGetLastError();                                  \
    if (_mlxm_cu_err != cudaSuccess)                                                      \
      return ::mlxm::engine::cuda::detail::cuda_status(_mlxm_cu_err, "launch of " name,   \
                                                        __FILE__, __LINE__);              \
  } while (0)
