#include "engine/kernels/cpu/isa.h"

#include <atomic>

#include "core/check.h"
#include "core/cpu_features.h"

namespace mlxm::engine::cpu {
namespace {
std::atomic<int> g_override{-1};
}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kPortable: return "portable";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) {
#if defined(__x86_64__)
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::kPortable: return true;
    case Isa::kAvx2: return f.avx2 && f.fma && f.f16c;
    case Isa::kAvx512:
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
  }
  return false;
#else
  return isa == Isa::kPortable;
#endif
}

Isa best_isa() {
  static const Isa best = [] {
    if (isa_supported(Isa::kAvx512)) return Isa::kAvx512;
    if (isa_supported(Isa::kAvx2)) return Isa::kAvx2;
    return Isa::kPortable;
  }();
  return best;
}

Isa active_isa() {
  const int o = g_override.load(std::memory_order_relaxed);
  return o < 0 ? best_isa() : static_cast<Isa>(o);
}

void set_isa_override(Isa isa) {
  MLXM_CHECK(isa_supported(isa));
  g_override.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void clear_isa_override() { g_override.store(-1, std::memory_order_relaxed); }

}  // namespace mlxm::engine::cpu
