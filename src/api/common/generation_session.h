// The protocol-neutral core of a local-model request in flight: its choices (each a sequence
// in the model's engine loop), where the output goes — an SSE stream or one deferred response
// — and the lifecycle they share: submitting (a failure withdraws the choices already queued),
// events produced before the stream opened or a result ready before the response could be sent
// (buffered, then flushed), client disconnects and the request timeout (both abort every
// sequence so its KV blocks are freed at once), and the audit-log record written once at the
// end. Protocol encoders (OpenAI CompletionSession, Anthropic MessagesSession) derive from it
// and implement the hooks, which all run under the session's mutex.
//
// Thread-safety: sinks run on the engine thread, disconnects on io threads, the timeout on the
// timer thread; they all meet under mu_ and never block.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/http/http_types.h"
#include "api/observe/request_trace.h"
#include "api/schema/api_error.h"
#include "core/timer_thread.h"
#include "serving/model_instance.h"

namespace mlxm::api {

class GenerationSession : public std::enable_shared_from_this<GenerationSession> {
 public:
  GenerationSession(std::shared_ptr<serving::ModelInstance> model, bool stream, RequestTrace trace);
  virtual ~GenerationSession() = default;

  // Queues the stream's head (stream_head_locked), submits every request (their sinks are set
  // here) and returns the HTTP response (SSE or deferred). A submit failure is
  // error_response() (400 / 503 with Retry-After). `timers` runs the timeout and must outlive
  // the session's requests.
  http::HttpResponse start(std::vector<serving::GenerationRequest> requests,
                           std::chrono::milliseconds timeout, TimerThread& timers);

  // Engine-thread callbacks (through the per-choice sinks).
  void on_token(size_t choice, const serving::TokenEvent& event);
  void on_finish(size_t choice, const serving::FinishInfo& info);

 protected:
  // --- hooks (under mu_) ---
  // Events that open the stream, queued before anything is submitted.
  virtual void stream_head_locked() {}
  // A token of a running choice (not called after the choice finished or the session ended).
  virtual void token_locked(size_t choice, const serving::TokenEvent& event) = 0;
  // A choice ended; error_ is already set for FinishReason::kError.
  virtual void finish_locked(size_t choice, const serving::FinishInfo& info) = 0;
  // Every choice ended and the client is still there: send the result, or `err`. A stream is
  // closed afterwards by the caller.
  virtual void complete_locked(const std::optional<ApiError>& err) = 0;
  // The failure to report at the end (error_, else the timeout); encoders may add their own.
  virtual std::optional<ApiError> final_error_locked() const;
  // Protocol-specific fields of the audit record (usage, finish reason, content).
  virtual void trace_fields_locked(telemetry::RequestRecord& record) = 0;
  // An error response in the protocol's shape.
  virtual http::HttpResponse error_response(const ApiError& error) const = 0;

  // --- helpers for encoders (under mu_) ---
  void send_event_locked(std::string framed_sse_event);
  void send_response_locked(http::HttpResponse response);
  void abort_locked(size_t choice);  // the engine stops it on its next iteration
  bool streaming_locked() const { return stream_mode_ && !client_gone_; }
  size_t n_choices() const { return seqs_.size(); }

  std::shared_ptr<serving::ModelInstance> model_;
  const bool stream_mode_;
  RequestTrace trace_;
  std::mutex mu_;
  std::optional<ApiError> error_;  // a failure to report instead of the result
  bool timed_out_ = false;
  bool client_gone_ = false;
  bool completed_ = false;
  int64_t timeout_seconds_ = 0;

 private:
  void abort_all_locked();
  void maybe_complete_locked();
  void trace_finish_locked(const std::optional<ApiError>& err);
  void on_client_gone();
  void on_timeout();

  std::vector<serving::SeqId> seqs_;
  std::vector<bool> done_;
  std::shared_ptr<http::ResponseStream> stream_;
  std::shared_ptr<http::PendingResponse> pending_;
  std::vector<std::string> early_events_;             // before the stream opened
  std::optional<http::HttpResponse> early_response_;  // before send() was possible
  TimerThread* timers_ = nullptr;
  TimerThread::TimerId timer_id_ = 0;
};

}  // namespace mlxm::api
