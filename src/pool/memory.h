// Process and machine memory figures, and the pool's memory budget (DESIGN §5).
// Thread-safe (reads /proc and /sys).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace mlxm::pool {

// Physical RAM: MemTotal, or the cgroup v2 limit (memory.max) when that is smaller.
uint64_t total_memory_bytes();
// Resident set size of this process (/proc/self/statm).
uint64_t current_rss_bytes();

struct MemoryBudget {
  uint64_t bytes = 0;
  std::string source;  // "MLX_SERVER_MAX_MEMORY_GB", "MLX_SERVER_MEMORY_LIMIT_PERCENT", "default"
};

// The default headroom left to the OS and the rest of the process: max(2 GiB, 20% of total),
// never more than half of total.
uint64_t default_headroom_bytes(uint64_t total);

// MLX_SERVER_MAX_MEMORY_GB (GiB, fractional allowed) wins; else
// MLX_SERVER_MEMORY_LIMIT_PERCENT (1..100) of total; else total - default_headroom_bytes(total).
// Malformed values are errors naming the variable.
Result<MemoryBudget> memory_budget_from_env(uint64_t total);

// For models on a GPU: the same precedence over the device's memory (`total` = its size), with
// a smaller default headroom (max(1 GiB, 10%)): nothing else of the OS lives there.
Result<MemoryBudget> device_memory_budget_from_env(uint64_t total);

// Device memory in use now (total - free from cudaMemGetInfo); 0 without a GPU.
uint64_t device_used_bytes();

// Gives freed heap memory back to the OS (glibc malloc_trim) after a model is dropped.
void release_free_memory();

std::string format_bytes(uint64_t bytes);  // "1.23 GiB", "45.6 MiB", "789 KiB"

}  // namespace mlxm::pool
