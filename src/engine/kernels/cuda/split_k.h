// A linear's output left as the partial sums of a split-K GEMM, for its consumer kernel to
// add while it reads them (no reduce kernel, no round trip of the summed output through
// memory). CUDA-free header.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace mlxm::engine::cuda {

// How a consumer reads an input p: value i = 0 + p[i] + p[stride + i] + … + p[(kz-1)·stride + i],
// summed in z order (the same floats as the split-K reduce writes). kz == 1: value i = p[i].
struct Slices {
  int kz = 1;
  int64_t stride = 0;  // floats between slices (rows · n_out)
};

// Ok when `s` can describe an input of `span` floats: 1 <= kz <= 64 and, with kz > 1, slices
// that do not overlap (stride >= span); else kInvalidArgument naming `who`.
inline Status check_slices(const Slices& s, int64_t span, const char* who) {
  if (s.kz < 1 || s.kz > 64 || (s.kz > 1 && s.stride < span)) {
    return invalid_argument(std::string(who) + ": split-K slices need 1 <= kz <= 64 and a " +
                            "stride of at least " + std::to_string(span) + " floats (got kz " +
                            std::to_string(s.kz) + ", stride " + std::to_string(s.stride) + ")");
  }
  return ok_status();
}

// Where CudaLinear::forward left y (ForwardOptions::split_k_out): `base` read by `slices`.
struct SplitKOutput {
  const float* base = nullptr;
  Slices slices;
};

}  // namespace mlxm::engine::cuda
