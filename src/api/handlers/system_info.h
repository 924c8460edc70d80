// GET /api/system: what `mlx-manager version` prints, over HTTP, for the web UI's dashboard:
// version, build type, CPU (model, cores, features), host memory (/proc/meminfo), process
// uptime and RSS, CUDA compiled in and, when the composition root injects it, the GPUs.
// Unauthenticated like /health: it carries no secrets.
// Thread-safety: the handler is safe on any io thread as long as `gpus` is.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/http/router.h"

namespace mlxm::handlers {

struct SystemInfoDeps {
  std::string version;     // MLXM_VERSION
  std::string build_type;  // MLXM_BUILD_TYPE ("Release", ...)
  bool cuda_compiled = false;
  // A JSON array of GPUs ({name, total_bytes, free_bytes, ...}); unset = none reported.
  std::function<nlohmann::json()> gpus;
  // Why there is no usable GPU ("" when there is one); unset = not reported.
  std::function<std::string()> cuda_unavailable_reason;
  int64_t started_ms = 0;  // process start, unix milliseconds (uptime); 0 = not reported
};

// The body of GET /api/system (see docs/api.md).
nlohmann::json system_info_json(const SystemInfoDeps& deps);

// Host memory from a /proc/meminfo text: {"total_bytes", "available_bytes"}; null when the
// text lacks MemTotal.
nlohmann::json parse_meminfo(const std::string& text);

void register_system_info_route(http::Router& router, SystemInfoDeps deps);

}  // namespace mlxm::handlers
