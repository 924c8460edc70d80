// Standalone GPU check only (tools/gpu/check.sh): stands in for src/core/log.h, which needs
// spdlog, so the CPU kernels compile without it. Messages go to stderr unformatted.
#pragma once

#include <cstdio>

#include "core/status.h"

#define MLXM_LOG_SHIM_(level, fmt, ...) std::fprintf(stderr, "[%s] %s\n", level, fmt)
#define MLXM_LOG_TRACE(...) MLXM_LOG_SHIM_("trace", __VA_ARGS__)
#define MLXM_LOG_DEBUG(...) MLXM_LOG_SHIM_("debug", __VA_ARGS__)
#define MLXM_LOG_INFO(...) MLXM_LOG_SHIM_("info", __VA_ARGS__)
#define MLXM_LOG_WARN(...) MLXM_LOG_SHIM_("warn", __VA_ARGS__)
#define MLXM_LOG_ERROR(...) MLXM_LOG_SHIM_("error", __VA_ARGS__)
