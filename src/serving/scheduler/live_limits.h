// Process-wide limits that the live settings (docs/configuration.md, "Live settings") change
// while the server runs. Readers load them per request (timeouts) or per scheduling step
// (batching), so a change applies to new requests and to the next step of loaded models.
// 0 means "not set": the value each component was configured with at start-up/load applies.
// A live batching limit only lowers a model's configured one (its KV cache was reserved for
// that many sequences at load), never raises it.
//
// Thread-safety: all members are atomics; any thread may read or write them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mlxm::serving {

struct LiveLimits {
  std::atomic<int64_t> chat_timeout_seconds{0};         // MLX_SERVER_TIMEOUT_CHAT_SECONDS
  std::atomic<int64_t> completions_timeout_seconds{0};  // MLX_SERVER_TIMEOUT_COMPLETIONS_SECONDS
  std::atomic<int> max_batch_size{0};                   // MLX_SERVER_BATCH_MAX_BATCH_SIZE
  std::atomic<int> max_queued_requests{0};              // MLX_SERVER_MAX_QUEUED_REQUESTS
};

// The process's live limits.
LiveLimits& live_limits();

// `configured` capped by a live limit when one is set (> 0).
inline int capped_by_live(int configured, int live) {
  return live > 0 && live < configured ? live : configured;
}

// The live timeout when one is set, else `configured`.
inline std::chrono::seconds live_or(std::chrono::seconds configured, int64_t live_seconds) {
  return live_seconds > 0 ? std::chrono::seconds(live_seconds) : configured;
}

}  // namespace mlxm::serving
