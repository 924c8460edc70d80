// CPU features detected at run time (one binary runs on any x86-64).
#pragma once

#include <string>

namespace mlxm {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx_vnni = false;
  int n_logical_cores = 1;
  int n_physical_cores = 1;
  std::string model_name;  // from /proc/cpuinfo when available
};

// Detected once, then cached. Thread-safe.
const CpuFeatures& cpu_features();

// "AVX2 FMA F16C AVX512F ..." — what `mlx-manager version` prints.
std::string cpu_features_string(const CpuFeatures& f);

}  // namespace mlxm
