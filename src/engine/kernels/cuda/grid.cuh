// Internal to kernels/cuda: the 1-D grid of a grid-stride kernel over `total` items with
// `threads` per block (at least 1 block, at most 65535·16; the kernels loop past it).
#pragma once

#include <cstdint>

namespace mlxm::engine::cuda {

inline unsigned grid_for(int64_t total, int threads) {
  const int64_t b = (total + threads - 1) / threads;
  return static_cast<unsigned>(b < 65535 * 16 ? (b < 1 ? 1 : b) : 65535 * 16);
}

}  // namespace mlxm::engine::cuda
