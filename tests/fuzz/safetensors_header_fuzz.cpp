// libFuzzer target: the safetensors header parser on arbitrary bytes (a whole "file"). It must
// return a Status for every input, never crash, hang or read out of bounds (ASan/UBSan on).
#include <cstddef>
#include <cstdint>

#include "engine/loader/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = mlxm::engine::parse_safetensors_header(data, size);
  if (r.ok()) {
    // Every accepted tensor lies inside the input.
    const auto& h = r.value();
    for (const auto& t : h.tensors) {
      if (h.data_offset + t.end > size || t.begin > t.end) __builtin_trap();
      if (t.end > t.begin) {
        volatile uint8_t first = data[h.data_offset + t.begin];
        volatile uint8_t last = data[h.data_offset + t.end - 1];
        (void)first;
        (void)last;
      }
    }
  }
  return 0;
}
