// avx2 kernels of PackedLinear (temporary: forward to the portable ones).
#include "engine/kernels/cpu/linear_internal.h"

namespace mlxm::engine::cpu::avx2 {

void quantize_rows(const float* x, int64_t row_begin, int64_t row_end, int group_size,
                   const QuantizedX& qx) {
  portable::quantize_rows(x, row_begin, row_end, group_size, qx);
}
void int_gemm(const PackedWeights& w, const QuantizedX& qx, int64_t tile_begin, int64_t tile_end,
              float* y, int64_t ldy) {
  portable::int_gemm(w, qx, tile_begin, tile_end, y, ldy);
}
void rows_to_f32(const PackedWeights& w, int64_t r0, int64_t nr, float* out) {
  portable::rows_to_f32(w, r0, nr, out);
}
void f32_gemm(const float* w, int64_t nr, int64_t n_in, const float* x, int64_t n, float* y,
              int64_t ldy) {
  portable::f32_gemm(w, nr, n_in, x, n, y, ldy);
}

}  // namespace mlxm::engine::cpu::avx2
