// make_bulk_tma (bulk_tma.cuh): cuTensorMapEncodeTiled, looked up through the runtime
// (cudaGetDriverEntryPointByVersion), so that nothing links libcuda.
#include "engine/kernels/cuda/bulk_tma.cuh"

#include <cuda_runtime.h>
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled_v12000

#include <string>

namespace mlxm::engine::cuda::detail {

namespace {

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

// A 2-D map of `rows` rows of `cols` elements (row pitch cols · elem bytes) and a box of
// kBulkTmaRows rows × box_cols elements.
Status encode_2d(CUtensorMap* m, CUtensorMapDataType type, size_t elem, const void* base,
                 int64_t cols, int64_t rows, int box_cols, const char* what) {
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t pitch[1] = {static_cast<cuuint64_t>(cols) * elem};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(box_cols), kBulkTmaRows};
  const cuuint32_t step[2] = {1, 1};
  const CUresult r = encoder()(m, type, 2, const_cast<void*>(base), dims, pitch, box, step,
                               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                               CU_TENSOR_MAP_L2_PROMOTION_NONE,
                               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    return invalid_argument(std::string("make_bulk_tma: the driver rejected the ") + what +
                            " map (CUresult " + std::to_string(static_cast<int>(r)) + ")");
  }
  return ok_status();
}

}  // namespace

Status make_bulk_tma(const void* w, const void* sb, int64_t n_out, int64_t n_in, int bits,
                     int group_size, BulkTma* m) {
  if ((bits != 4 && bits != 8) || group_size < 32 || n_in % (4 * int64_t{group_size}) != 0) {
    return invalid_argument("make_bulk_tma: 4/8-bit layers with n_in a multiple of 4·group_size");
  }
  if (encoder() == nullptr) {
    return unimplemented("make_bulk_tma: the driver has no cuTensorMapEncodeTiled");
  }
  MLXM_RETURN_IF_ERROR(encode_2d(&m->codes, CU_TENSOR_MAP_DATA_TYPE_UINT64, 8, w,
                                 n_in * bits / 64, n_out, kBulkTmaCodeWords, "codes"));
  return encode_2d(&m->words, CU_TENSOR_MAP_DATA_TYPE_UINT32, 4, sb, n_in / group_size, n_out,
                   bulk_tma_piece_words(bits, group_size), "words");
}

}  // namespace mlxm::engine::cuda::detail
