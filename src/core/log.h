// Logging on spdlog. The logger is one of the two allowed globals (DESIGN §2).
// Level from MLX_MANAGER_LOG_LEVEL: trace|debug|info|warn|error|off (default info).
// Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include "core/status.h"

namespace mlxm {

// Configures the default logger (stderr, level from the environment). Call once at start-up;
// returns an error naming the variable when MLX_MANAGER_LOG_LEVEL is malformed.
Status init_logging();

}  // namespace mlxm

#define MLXM_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define MLXM_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define MLXM_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define MLXM_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define MLXM_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
