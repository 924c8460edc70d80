#include "engine/device.h"

namespace mlxm::engine {

Result<Device> resolve_device(const std::string& name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda" || name == "gpu") {
    if (cuda_device_count() == 0) {
      return unavailable("--device cuda: no usable CUDA device (" + cuda_unavailable_reason() +
                         ")");
    }
    return Device::kCuda;
  }
  if (name == "auto") return cuda_device_count() > 0 ? Device::kCuda : Device::kCpu;
  return invalid_argument("device '" + name + "' (want cpu, cuda or auto)");
}

const char* device_name(Device d) { return d == Device::kCuda ? "cuda" : "cpu"; }

}  // namespace mlxm::engine
