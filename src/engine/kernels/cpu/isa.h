// Internal: which instruction-set path the CPU kernels take. Chosen once from cpu_features();
// tests force a path to check each one against the reference.
// Thread-safety: set_isa_override is for tests, called while no kernel runs.
#pragma once

namespace mlxm::engine::cpu {

enum class Isa { kPortable, kAvx2, kAvx512 };

const char* isa_name(Isa isa);

// The best path this CPU supports: AVX-512 needs F/BW/VL/VNNI; AVX2 needs AVX2/FMA/F16C.
Isa best_isa();
bool isa_supported(Isa isa);

// The path kernels take now: the override if one is set, else best_isa().
Isa active_isa();

// REQUIRES: isa_supported(isa). Tests only.
void set_isa_override(Isa isa);
void clear_isa_override();

}  // namespace mlxm::engine::cpu
