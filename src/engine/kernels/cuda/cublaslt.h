// cuBLASLt loaded at run time (dlopen): the handful of cuBLASLt entry points the prefill
// linears need (cublas_gemm.cu), with no link-time dependency, so binaries start (and run our
// own kernels) on machines without cuBLAS. CUDA-free header: <cublasLt.h> is never included
// (the GPU machine may lack it); the opaque types, enum values and the heuristic-result layout
// below are copied from CUDA 13's cublasLt.h / cublas_api.h / library_types.h, and
// tests/engine/kernels/cuda/cublaslt_abi_test.cpp checks them against the real header wherever
// it exists.
//
// Library search: "libcublasLt.so.13", "libcublasLt.so" (the loader's search path:
// LD_LIBRARY_PATH, ldconfig), then the path in env MLXM_CUBLASLT when set.
// Thread-safety: cublaslt() loads once (std::call_once) and returns the same process-wide
// handle to every thread; a cuBLASLt handle may be used from several threads on different
// streams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/kernels/cuda/cuda_runtime_api.h"

namespace mlxm::engine::cuda::lt {

// ---- ABI (values as in CUDA 13's headers) -------------------------------------------------
using StatusT = int;  // cublasStatus_t
inline constexpr StatusT kStatusSuccess = 0;
inline constexpr StatusT kStatusNotInitialized = 1;
inline constexpr StatusT kStatusAllocFailed = 3;
inline constexpr StatusT kStatusInvalidValue = 7;
inline constexpr StatusT kStatusArchMismatch = 8;
inline constexpr StatusT kStatusExecutionFailed = 13;
inline constexpr StatusT kStatusInternalError = 14;
inline constexpr StatusT kStatusNotSupported = 15;

inline constexpr int kDataR32F = 0;    // cudaDataType CUDA_R_32F
inline constexpr int kDataR16F = 2;    // CUDA_R_16F
inline constexpr int kDataR16BF = 14;  // CUDA_R_16BF
inline constexpr int kCompute32F = 68;  // cublasComputeType_t CUBLAS_COMPUTE_32F
inline constexpr int32_t kOpN = 0;      // cublasOperation_t
inline constexpr int32_t kOpT = 1;

// cublasLtMatmulDescAttributes_t
inline constexpr int kDescTransA = 3;   // int32_t
inline constexpr int kDescTransB = 4;   // int32_t
inline constexpr int kDescEpilogue = 7;  // uint32_t
// cublasLtEpilogue_t
inline constexpr uint32_t kEpilogueDefault = 1;
// cublasLtMatmulPreferenceAttributes_t
inline constexpr int kPrefMaxWorkspaceBytes = 1;  // uint64_t
inline constexpr int kPrefMinAlignmentABytes = 5;  // uint32_t, default 256
inline constexpr int kPrefMinAlignmentBBytes = 6;
inline constexpr int kPrefMinAlignmentCBytes = 7;
inline constexpr int kPrefMinAlignmentDBytes = 8;

struct Context;                        // cublasLtContext
using Handle = Context*;               // cublasLtHandle_t
struct MatmulDescOpaque;               // cublasLtMatmulDescOpaque_t
using MatmulDesc = MatmulDescOpaque*;  // cublasLtMatmulDesc_t
struct LayoutOpaque;                   // cublasLtMatrixLayoutOpaque_t
using Layout = LayoutOpaque*;          // cublasLtMatrixLayout_t
struct PrefOpaque;                     // cublasLtMatmulPreferenceOpaque_t
using Pref = PrefOpaque*;              // cublasLtMatmulPreference_t

struct MatmulAlgo {  // cublasLtMatmulAlgo_t
  uint64_t data[8];
};
struct HeuristicResult {  // cublasLtMatmulHeuristicResult_t
  MatmulAlgo algo;
  size_t workspaceSize;
  StatusT state;
  float wavesCount;
  int reserved[4];
};

// ---- entry points -------------------------------------------------------------------------
struct Api {
  StatusT (*create)(Handle*) = nullptr;
  StatusT (*destroy)(Handle) = nullptr;
  size_t (*get_version)() = nullptr;
  const char* (*get_status_name)(StatusT) = nullptr;
  StatusT (*matmul_desc_create)(MatmulDesc*, int compute_type, int scale_type) = nullptr;
  StatusT (*matmul_desc_set_attribute)(MatmulDesc, int attr, const void* buf, size_t size) = nullptr;
  StatusT (*matmul_desc_destroy)(MatmulDesc) = nullptr;
  StatusT (*matrix_layout_create)(Layout*, int type, uint64_t rows, uint64_t cols,
                                  int64_t ld) = nullptr;
  StatusT (*matrix_layout_destroy)(Layout) = nullptr;
  StatusT (*matmul_preference_create)(Pref*) = nullptr;
  StatusT (*matmul_preference_set_attribute)(Pref, int attr, const void* buf,
                                             size_t size) = nullptr;
  StatusT (*matmul_preference_destroy)(Pref) = nullptr;
  StatusT (*matmul_algo_get_heuristic)(Handle, MatmulDesc, Layout a, Layout b, Layout c,
                                       Layout d, Pref, int requested, HeuristicResult* results,
                                       int* returned) = nullptr;
  StatusT (*matmul)(Handle, MatmulDesc, const void* alpha, const void* a, Layout a_desc,
                    const void* b, Layout b_desc, const void* beta, const void* c, Layout c_desc,
                    void* d, Layout d_desc, const MatmulAlgo* algo, void* workspace,
                    size_t workspace_bytes, Stream stream) = nullptr;
  std::string path;  // the library that was opened
};

// The libraries tried, in order: libcublasLt.so.13, libcublasLt.so, then $MLXM_CUBLASLT if set.
std::vector<std::string> default_candidates();

// dlopen()s the first candidate that opens and resolves every entry point (no GPU needed).
// kUnavailable naming every candidate and dlerror() when none opens, or the library and the
// missing symbol.
Result<Api> load_api(const std::vector<std::string>& candidates);

// The process-wide cuBLASLt: load_api(default_candidates()) and cublasLtCreate, once. The
// failure (kUnavailable, naming what failed to load or to initialise) is kept and returned to
// every later call.
struct Lib {
  Api api;
  Handle handle = nullptr;
};
Result<const Lib*> get();

// "CUBLAS_STATUS_NOT_SUPPORTED (15)" through the library when loaded, else the number.
std::string status_name(const Api& api, StatusT s);

}  // namespace mlxm::engine::cuda::lt
