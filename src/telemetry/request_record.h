// What one finished API request looked like, as the API layer saw it: the data behind an audit
// row and the per-request metrics. Plain values, no HTTP or serving types, so the store, the
// metrics and the handlers can all consume it. Thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlxm::telemetry {

enum class RequestOutcome {
  kSuccess,    // a complete answer (finish reason stop/length/tool_calls)
  kError,      // rejected (4xx) or failed (5xx)
  kTimeout,    // the server's request timeout fired
  kCancelled,  // the client went away first
};
const char* request_outcome_name(RequestOutcome o);  // "success", "error", "timeout", "cancelled"

struct RequestRecord {
  std::string request_id;      // X-Request-ID
  int64_t t_start_unix_ms = 0;  // when the request arrived
  std::string method;          // "POST"
  std::string endpoint;        // route path, e.g. "/v1/chat/completions"
  std::string model;           // the model name as resolved ("" when the request had none)
  std::string backend;         // who served it: "local", a cloud provider name, "" if none
  RequestOutcome outcome = RequestOutcome::kSuccess;
  int http_status = 200;
  std::string finish_reason;   // "stop", "length", ... ("" when it never ran)
  bool stream = false;
  double duration_ms = 0;      // arrival -> last byte handed to the connection
  double queue_ms = -1;        // in the scheduler's waiting queue; -1 when it never ran
  double ttft_ms = -1;         // arrival -> first token; -1 when no token was produced
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  std::vector<float> inter_token_ms;  // gaps between consecutive tokens (metrics only)
  std::string error_type;      // e.g. "invalid_request_error"
  std::string error_message;   // truncated by the consumer
  std::string client_address;  // "127.0.0.1:54321"
  std::string api_key_id;      // the key's id, never the key ("" when unauthenticated)
  // Only filled when the observer wants content (MLX_SERVER_AUDIT_CONTENT=true).
  std::optional<std::string> prompt_content;
  std::optional<std::string> response_content;

  // completion_tokens / decode time (after the first token); 0 when not measurable.
  double tokens_per_second() const;
};

// Receives every finished request. Implementations must be thread-safe and must not block
// (they run on io, engine or timer threads): they hand work to their own threads.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void on_request_complete(RequestRecord record) = 0;
  // Whether prompt/response text should be captured into the record (costs a copy).
  virtual bool wants_content() const { return false; }
};

}  // namespace mlxm::telemetry
