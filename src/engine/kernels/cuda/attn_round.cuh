// Internal to kernels/cuda: one round of the decode attention's math for one query head, shared
// by the split kernel (ops.cu paged_decode_kernel, once per head of its group) and the
// whole-context kernel (attention_decode_whole.cu).
//
// Lane l holds dims [l·HPL, (l+1)·HPL) of q (scaled to log2 units) and of the round's KU K and V
// rows. It ends up with the score of position u_l = l >> kShift (all 32 >> kShift lanes of a
// position hold it): a transposing butterfly halves the vector per level (KU − 1 shuffles), then
// plain levels finish the sum; the round's max and sum take log2(KU) shuffles each, one exp2 per
// lane, and KU shuffles hand each p_u to every lane. (m, l, acc) take one rescale per round.
#pragma once

#include <cuda_runtime.h>

#include <cmath>

namespace mlxm::engine::cuda::attn_round {

// log2 of the lanes per position.
template <int KU>
constexpr int kShift = 5 - (KU == 8 ? 3 : KU == 4 ? 2 : 1);

// my_ok: position lane >> kShift<KU> of the round exists (its score counts).
template <int HPL, int KU>
__device__ __forceinline__ void head(const float (&qv)[HPL], const float (&kf)[KU][HPL],
                                     const float (&vf)[KU][HPL], bool my_ok, int lane, float& m,
                                     float& l, float (&acc)[HPL]) {
  static_assert(KU == 2 || KU == 4 || KU == 8, "KU");
  constexpr int kS = kShift<KU>;
  float v[KU];
#pragma unroll
  for (int u = 0; u < KU; ++u) {
    v[u] = 0.0f;
#pragma unroll
    for (int i = 0; i < HPL; ++i) v[u] = fmaf(qv[i], kf[u][i], v[u]);
  }
#pragma unroll
  for (int n = KU, o = 16; n > 1; n >>= 1, o >>= 1) {
    const bool upper = (lane & o) != 0;
#pragma unroll
    for (int i = 0; i < n / 2; ++i) {
      const float send = upper ? v[i] : v[i + n / 2];
      const float keep = upper ? v[i + n / 2] : v[i];
      v[i] = keep + __shfl_xor_sync(0xFFFFFFFFu, send, o);
    }
  }
  float sc = v[0];
#pragma unroll
  for (int o = 16 >> (5 - kS); o > 0; o >>= 1) sc += __shfl_xor_sync(0xFFFFFFFFu, sc, o);
  float rmax = my_ok ? sc : -INFINITY;
#pragma unroll
  for (int o = 16; o >= (1 << kS); o >>= 1) {
    rmax = fmaxf(rmax, __shfl_xor_sync(0xFFFFFFFFu, rmax, o));
  }
  const float mn = fmaxf(m, rmax);
  const float corr = exp2f(m - mn);  // 0 at the start (m = -inf); NaN scores stay NaN
  float pw = my_ok ? exp2f(sc - mn) : 0.0f;
  float psum = pw;
#pragma unroll
  for (int o = 16; o >= (1 << kS); o >>= 1) psum += __shfl_xor_sync(0xFFFFFFFFu, psum, o);
  l = fmaf(l, corr, psum);
#pragma unroll
  for (int i = 0; i < HPL; ++i) acc[i] *= corr;
#pragma unroll
  for (int u = 0; u < KU; ++u) {
    const float pu = __shfl_sync(0xFFFFFFFFu, pw, u << kS);
#pragma unroll
    for (int i = 0; i < HPL; ++i) acc[i] = fmaf(pu, vf[u][i], acc[i]);
  }
  m = mn;
}

}  // namespace mlxm::engine::cuda::attn_round
