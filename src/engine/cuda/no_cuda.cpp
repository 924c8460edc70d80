// The CUDA engine entry points of a build without nvcc: no device, a clear error.
#include "engine/cuda/cuda_decoder.h"
#include "engine/device.h"

namespace mlxm::engine {

bool cuda_compiled() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_unavailable_reason() {
  return "this build has no CUDA engine (nvcc was not found when it was compiled)";
}
Result<DeviceMemory> cuda_memory_info() { return unavailable(cuda_unavailable_reason()); }

Result<std::unique_ptr<Engine>> load_cuda_decoder(const std::string&, const EngineOptions&) {
  return unavailable("--device cuda: " + cuda_unavailable_reason());
}

}  // namespace mlxm::engine
