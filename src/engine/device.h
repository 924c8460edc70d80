// Which device runs a model, and what the CUDA device offers — without any CUDA header, so the
// CLI, the model pool and the server can ask whether and how much GPU is there.
// Thread-safety: all functions are thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"
#include "engine/engine.h"

namespace mlxm::engine {

// True when this build contains the CUDA engine (nvcc was found at build time).
bool cuda_compiled();
// Usable CUDA devices: 0 without the CUDA engine, a driver or a device (never fails).
int cuda_device_count();
// Why cuda_device_count() is 0 ("built without CUDA", the runtime's message); "" otherwise.
std::string cuda_unavailable_reason();

struct DeviceMemory {
  std::string name;  // e.g. "NVIDIA H200"
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
// cudaMemGetInfo of the current device (device 0) plus its name. Unavailable when there is no
// usable device or the CUDA engine is not compiled in.
Result<DeviceMemory> cuda_memory_info();

// "cpu" | "cuda" | "auto" (cuda when compiled in and a device is present, else cpu).
// "cuda" without a usable device is Unavailable (naming why); anything else InvalidArgument.
Result<Device> resolve_device(const std::string& name);
const char* device_name(Device d);  // "cpu" | "cuda"

}  // namespace mlxm::engine
