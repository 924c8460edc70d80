// Recording API requests for the audit log and the metrics (telemetry::RequestObserver).
//
// Two paths cover every request:
//  - observed(obs, handler) wraps a route: a plain response (a 400/404 before any session, a
//    tokenize answer) is recorded at once, with the error type and message from its body;
//  - a streamed or deferred response belongs to a session (CompletionSession, MessagesSession),
//    which carries a RequestTrace and calls RequestTrace::finish() once when the request ends
//    (success, error, timeout or client gone), with its real duration and token counts.
// With no observer everything here is a no-op.
//
// Thread-safety: RequestTrace is used under its session's mutex; observed() handlers are
// thread-safe as the observer is.
#pragma once

#include <memory>
#include <string>

#include "api/http/http_types.h"
#include "core/clock.h"
#include "telemetry/request_record.h"

namespace mlxm::api {

class RequestTrace {
 public:
  RequestTrace() = default;  // inactive
  // Starts a trace for `request` (request id, method, endpoint, client, arrival time). With
  // `capture_prompt` and an observer that wants content, the request body is kept as the prompt.
  RequestTrace(std::shared_ptr<telemetry::RequestObserver> observer,
               const http::HttpRequest& request);

  bool active() const { return observer_ != nullptr; }
  bool wants_content() const { return observer_ && observer_->wants_content(); }
  telemetry::RequestRecord& record() { return record_; }

  // Time of the first token (for TTFT from arrival) and gaps between tokens (ITL).
  void on_token();
  // Completes the record (duration = now - arrival, tokens/s) and hands it to the observer.
  // Only the first call counts.
  void finish();

 private:
  std::shared_ptr<telemetry::RequestObserver> observer_;
  telemetry::RequestRecord record_;
  TimePoint t0_{};
  TimePoint t_last_token_{};
  bool have_token_ = false;
  bool finished_ = false;
};

// Wraps `handler` so that plain (not streamed, not deferred) responses are recorded.
http::Handler observed(std::shared_ptr<telemetry::RequestObserver> observer, http::Handler handler);

// Error type and message from an OpenAI ({"error": {...}}) or Anthropic
// ({"type": "error", "error": {...}}) error body; empty when it is not one.
void error_from_body(const std::string& body, std::string* type, std::string* message);

}  // namespace mlxm::api
