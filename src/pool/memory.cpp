#include "pool/memory.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/env.h"
#include "engine/device.h"

namespace mlxm::pool {

uint64_t total_memory_bytes() {
  uint64_t total = 0;
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemTotal:") {
      total = kb * 1024;
      break;
    }
  }
  if (total == 0) {
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) total = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  }
  std::ifstream cg("/sys/fs/cgroup/memory.max");
  std::string limit;
  if (cg >> limit && limit != "max") {
    uint64_t v = 0;
    std::istringstream(limit) >> v;
    if (v > 0 && (total == 0 || v < total)) total = v;
  }
  return total;
}

uint64_t current_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t default_headroom_bytes(uint64_t total) {
  uint64_t h = std::max<uint64_t>(2ull << 30, total / 5);
  return std::min(h, total / 2);
}

Result<MemoryBudget> memory_budget_from_env(uint64_t total) {
  MemoryBudget b;
  if (env_get("MLX_SERVER_MAX_MEMORY_GB")) {
    MLXM_ASSIGN_OR_RETURN(double gb, env_double("MLX_SERVER_MAX_MEMORY_GB", 0, 1e-6, 1e6));
    b.bytes = static_cast<uint64_t>(gb * static_cast<double>(1ull << 30));
    b.source = "MLX_SERVER_MAX_MEMORY_GB";
    return b;
  }
  if (env_get("MLX_SERVER_MEMORY_LIMIT_PERCENT")) {
    MLXM_ASSIGN_OR_RETURN(double pct, env_double("MLX_SERVER_MEMORY_LIMIT_PERCENT", 0, 0.01, 100));
    b.bytes = static_cast<uint64_t>(static_cast<double>(total) * pct / 100.0);
    b.source = "MLX_SERVER_MEMORY_LIMIT_PERCENT";
    return b;
  }
  b.bytes = total - default_headroom_bytes(total);
  b.source = "default";
  return b;
}

Result<MemoryBudget> device_memory_budget_from_env(uint64_t total) {
  if (env_get("MLX_SERVER_MAX_MEMORY_GB") || env_get("MLX_SERVER_MEMORY_LIMIT_PERCENT")) {
    MLXM_ASSIGN_OR_RETURN(MemoryBudget b, memory_budget_from_env(total));
    b.source += " (GPU memory)";
    return b;
  }
  MemoryBudget b;
  const uint64_t headroom = std::min(std::max<uint64_t>(1ull << 30, total / 10), total / 2);
  b.bytes = total - headroom;
  b.source = "default (GPU memory)";
  return b;
}

uint64_t device_used_bytes() {
  auto m = engine::cuda_memory_info();
  if (!m.ok() || m->total_bytes < m->free_bytes) return 0;
  return m->total_bytes - m->free_bytes;
}

void release_free_memory() { malloc_trim(0); }

std::string format_bytes(uint64_t bytes) {
  char buf[64];
  const double b = static_cast<double>(bytes);
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1ull << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.0f KiB", b / 1024);
  }
  return buf;
}

}  // namespace mlxm::pool
