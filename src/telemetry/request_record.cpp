#include "telemetry/request_record.h"

namespace mlxm::telemetry {

const char* request_outcome_name(RequestOutcome o) {
  switch (o) {
    case RequestOutcome::kSuccess: return "success";
    case RequestOutcome::kError: return "error";
    case RequestOutcome::kTimeout: return "timeout";
    case RequestOutcome::kCancelled: return "cancelled";
  }
  return "error";
}

double RequestRecord::tokens_per_second() const {
  if (completion_tokens <= 0 || duration_ms <= 0) return 0;
  // Decode rate: the tokens after the first over the time after the first token; a single
  // token (or no TTFT) falls back to the whole request.
  if (ttft_ms >= 0 && completion_tokens > 1 && duration_ms > ttft_ms) {
    return static_cast<double>(completion_tokens - 1) * 1000.0 / (duration_ms - ttft_ms);
  }
  return static_cast<double>(completion_tokens) * 1000.0 / duration_ms;
}

}  // namespace mlxm::telemetry
