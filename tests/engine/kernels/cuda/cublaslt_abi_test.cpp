// The cuBLASLt run-time loader (engine/kernels/cuda/cublaslt.h) without a GPU: the ABI it
// declares by hand equals the real <cublasLt.h> (where the CUDA toolkit's header exists; the
// suite adds its include directory), and loading fails with a clear kUnavailable naming what
// could not be loaded.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/kernels/cuda/cublaslt.h"

#if __has_include(<cublasLt.h>)
#include <cublasLt.h>
#define MLXM_HAVE_CUBLASLT_HEADER 1
#else
#define MLXM_HAVE_CUBLASLT_HEADER 0
#endif

namespace mlxm::engine::cuda::lt {
namespace {

#if MLXM_HAVE_CUBLASLT_HEADER
static_assert(kStatusSuccess == CUBLAS_STATUS_SUCCESS);
static_assert(kStatusNotInitialized == CUBLAS_STATUS_NOT_INITIALIZED);
static_assert(kStatusAllocFailed == CUBLAS_STATUS_ALLOC_FAILED);
static_assert(kStatusInvalidValue == CUBLAS_STATUS_INVALID_VALUE);
static_assert(kStatusArchMismatch == CUBLAS_STATUS_ARCH_MISMATCH);
static_assert(kStatusExecutionFailed == CUBLAS_STATUS_EXECUTION_FAILED);
static_assert(kStatusInternalError == CUBLAS_STATUS_INTERNAL_ERROR);
static_assert(kStatusNotSupported == CUBLAS_STATUS_NOT_SUPPORTED);
static_assert(sizeof(StatusT) == sizeof(cublasStatus_t));
static_assert(kDataR32F == CUDA_R_32F && kDataR16F == CUDA_R_16F && kDataR16BF == CUDA_R_16BF);
static_assert(sizeof(int) == sizeof(cudaDataType_t) && sizeof(int) == sizeof(cublasComputeType_t));
static_assert(kCompute32F == CUBLAS_COMPUTE_32F);
static_assert(kOpN == CUBLAS_OP_N && kOpT == CUBLAS_OP_T);
static_assert(kDescTransA == CUBLASLT_MATMUL_DESC_TRANSA);
static_assert(kDescTransB == CUBLASLT_MATMUL_DESC_TRANSB);
static_assert(kDescEpilogue == CUBLASLT_MATMUL_DESC_EPILOGUE);
static_assert(kEpilogueDefault == CUBLASLT_EPILOGUE_DEFAULT);
static_assert(kPrefMaxWorkspaceBytes == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES);
static_assert(kPrefMinAlignmentABytes == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES);
static_assert(kPrefMinAlignmentBBytes == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES);
static_assert(kPrefMinAlignmentCBytes == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES);
static_assert(kPrefMinAlignmentDBytes == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES);
static_assert(sizeof(int) == sizeof(cublasLtMatmulDescAttributes_t));
static_assert(sizeof(int) == sizeof(cublasLtMatmulPreferenceAttributes_t));
static_assert(sizeof(MatmulAlgo) == sizeof(cublasLtMatmulAlgo_t));
static_assert(sizeof(HeuristicResult) == sizeof(cublasLtMatmulHeuristicResult_t));
static_assert(alignof(HeuristicResult) == alignof(cublasLtMatmulHeuristicResult_t));
static_assert(offsetof(HeuristicResult, workspaceSize) ==
              offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize));
static_assert(offsetof(HeuristicResult, state) == offsetof(cublasLtMatmulHeuristicResult_t, state));
static_assert(offsetof(HeuristicResult, wavesCount) ==
              offsetof(cublasLtMatmulHeuristicResult_t, wavesCount));
#endif

TEST(CublasLtAbiTest, DeclaredValuesMatchTheHeader) {
#if MLXM_HAVE_CUBLASLT_HEADER
  // The static_asserts above did the work at compile time; the same facts at run time, so a
  // report shows they were checked against this header version.
  EXPECT_EQ(sizeof(HeuristicResult), sizeof(cublasLtMatmulHeuristicResult_t));
  EXPECT_EQ(kCompute32F, static_cast<int>(CUBLAS_COMPUTE_32F));
  EXPECT_EQ(kDataR16BF, static_cast<int>(CUDA_R_16BF));
  std::printf("[ INFO     ] checked against cublasLt.h %d.%d.%d\n", CUBLAS_VER_MAJOR,
              CUBLAS_VER_MINOR, CUBLAS_VER_PATCH);
#else
  GTEST_SKIP() << "no <cublasLt.h> on this machine";
#endif
}

TEST(CublasLtAbiTest, MissingLibraryIsUnavailableNamingEachPath) {
  auto r = load_api({"/nonexistent/libcublasLt.so.13", "libmlxm_no_such_cublas.so"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("/nonexistent/libcublasLt.so.13"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("libmlxm_no_such_cublas.so"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(load_api({}).status().code(), StatusCode::kUnavailable);
}

TEST(CublasLtAbiTest, LibraryWithoutTheSymbolsIsUnavailable) {
  // libc opens everywhere and has no cuBLASLt entry point.
  auto r = load_api({"libc.so.6"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("lacks the symbol cublasLtCreate"), std::string::npos)
      << r.status().message();
}

TEST(CublasLtAbiTest, EnvPathIsTriedLast) {
  ::setenv("MLXM_CUBLASLT", "/opt/x/libcublasLt.so.13", 1);
  const auto c = default_candidates();
  ::unsetenv("MLXM_CUBLASLT");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], "libcublasLt.so.13");
  EXPECT_EQ(c[1], "libcublasLt.so");
  EXPECT_EQ(c[2], "/opt/x/libcublasLt.so.13");
  EXPECT_EQ(default_candidates().size(), 2u);
}

// Where the toolkit is installed (header and library), every entry point resolves and the
// library's version is the header's major version (no GPU needed for either).
TEST(CublasLtAbiTest, InstalledLibraryResolvesEveryEntryPoint) {
#if MLXM_HAVE_CUBLASLT_HEADER
  auto r = load_api(default_candidates());
  if (!r.ok()) GTEST_SKIP() << "header present, library not loadable: " << r.status().message();
  EXPECT_NE(r->matmul, nullptr);
  EXPECT_NE(r->matmul_algo_get_heuristic, nullptr);
  const size_t v = r->get_version();
  EXPECT_EQ(static_cast<int>(v / 10000), CUBLAS_VER_MAJOR) << "version " << v << " from " << r->path;
  EXPECT_EQ(status_name(*r, kStatusNotSupported), "CUBLAS_STATUS_NOT_SUPPORTED (15)");
#else
  GTEST_SKIP() << "no <cublasLt.h> on this machine";
#endif
}

}  // namespace
}  // namespace mlxm::engine::cuda::lt
