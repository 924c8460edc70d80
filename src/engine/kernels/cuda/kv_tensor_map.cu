// make_kv_tensor_maps (cuda_ops.h): cuTensorMapEncodeTiled, looked up through the runtime
// (cudaGetDriverEntryPointByVersion), so that nothing links libcuda.
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled_v12000

#include <cstdint>
#include <string>

#include "engine/kernels/cuda/cuda_ops.h"

namespace mlxm::engine::cuda {

namespace {

static_assert(sizeof(TensorMapBytes) == sizeof(CUtensorMap) &&
                  alignof(TensorMapBytes) == alignof(CUtensorMap),
              "TensorMapBytes mirrors CUtensorMap");

PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();  // clear
      p = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}

// Rows of `cols` elements (one per cache position, `rows` of them), boxes of box_cols × 8.
Status encode(TensorMapBytes* m, CUtensorMapDataType type, const void* base, int64_t cols,
              int64_t rows, int box_cols, const char* what) {
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t pitch[1] = {static_cast<cuuint64_t>(cols) * 2};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(box_cols), 8};
  const cuuint32_t step[2] = {1, 1};
  const CUresult r = encoder()(reinterpret_cast<CUtensorMap*>(m), type, 2,
                               const_cast<void*>(base), dims, pitch, box, step,
                               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                               CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    return invalid_argument(std::string("make_kv_tensor_maps: the driver rejected the ") + what +
                            " map (CUresult " + std::to_string(static_cast<int>(r)) + ")");
  }
  return ok_status();
}

}  // namespace

Status make_kv_tensor_maps(const KvLayerView& kv, KvTensorMaps* maps) {
  if ((kv.dtype != DType::kF16 && kv.dtype != DType::kBF16) ||
      (kv.head_dim != 64 && kv.head_dim != 128) || kv.block_size % 8 != 0 || kv.n_blocks <= 0 ||
      kv.n_blocks > INT32_MAX / kv.block_size ||  // a position's row index is an int32 coordinate
      reinterpret_cast<uintptr_t>(kv.k) % 16 != 0 || reinterpret_cast<uintptr_t>(kv.v) % 16 != 0) {
    return unimplemented(
        "make_kv_tensor_maps: F16/BF16 caches, head_dim 64 or 128, block_size a multiple of 8, "
        "fewer than 2^31 positions and 16-byte aligned caches only");
  }
  if (encoder() == nullptr) {
    return unimplemented("make_kv_tensor_maps: the driver has no cuTensorMapEncodeTiled");
  }
  const CUtensorMapDataType type = kv.dtype == DType::kF16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                                           : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const int64_t cols = int64_t{kv.n_kv_heads} * kv.head_dim;
  const int64_t rows = kv.n_blocks * kv.block_size;
  MLXM_RETURN_IF_ERROR(encode(&maps->k, type, kv.k, cols, rows, kv.head_dim, "K"));
  return encode(&maps->v, type, kv.v, cols, rows, kv.head_dim, "V");
}

}  // namespace mlxm::engine::cuda
