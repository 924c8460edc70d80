#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/env.h"

namespace mlxm {

Status init_logging() {
  auto level_name = env_string("MLX_MANAGER_LOG_LEVEL", "info");
  auto level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    return invalid_argument("MLX_MANAGER_LOG_LEVEL: expected trace|debug|info|warn|error|off, got '" +
                            level_name + "'");
  }
  auto logger = spdlog::stderr_color_mt("mlxm");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  logger->set_level(level);
  spdlog::set_default_logger(logger);
  return ok_status();
}

}  // namespace mlxm
