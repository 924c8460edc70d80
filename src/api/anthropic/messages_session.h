// One /v1/messages request in flight: a single sequence in the model's engine loop and where
// its output goes — an Anthropic SSE event stream (message_start, content_block_start, ping,
// content_block_delta*, content_block_stop, message_delta, message_stop; `event: error` for a
// failure after the stream opened) or one deferred message JSON. Same lifecycle as the OpenAI
// CompletionSession: the sink runs on the engine thread; disconnects (io thread) and the timeout
// (timer thread) abort the sequence so its KV blocks are freed at once; everything meets under
// the session's mutex and nothing blocks.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/http/http_types.h"
#include "api/observe/request_trace.h"
#include "api/schema/anthropic_stream.h"
#include "api/schema/api_error.h"
#include "core/timer_thread.h"
#include "serving/model_instance.h"
#include "serving/output/stop_matcher.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::api {

struct MessagesOptions {
  bool stream = false;
  std::string model_name;
  std::vector<std::string> stop_sequences;
  RequestTrace trace;  // recorded once when the request ends (audit log, metrics)
  // The reply's text so far when it continues an assistant prefill: fed to the detokenizer
  // first (output dropped) so the continuation decodes as it does after it (e.g. a
  // SentencePiece tokenizer keeps the first token's leading space).
  std::vector<int32_t> prefix_ids;
};

// Anthropic error response: the status (503 adds Retry-After: 1) and the Anthropic error body.
http::HttpResponse anthropic_error_response(const ApiError& e);

class MessagesSession : public std::enable_shared_from_this<MessagesSession> {
 public:
  MessagesSession(std::shared_ptr<serving::ModelInstance> model, MessagesOptions options);

  // Submits the request (its sink is set here) and returns the HTTP response (SSE or
  // deferred). A submit failure is an error response (400 / 503). `timers` must outlive the
  // request. REQUIRES: request.prompt is non-empty and fits the model.
  http::HttpResponse start(serving::GenerationRequest request, std::chrono::milliseconds timeout,
                           TimerThread& timers);

  // Engine-thread callbacks (through the sink).
  void on_token(const serving::TokenEvent& event);
  void on_finish(const serving::FinishInfo& info);

 private:
  void on_client_gone();
  void on_timeout();
  void complete_locked();
  void trace_finish_locked(const std::optional<ApiError>& err);
  void send_event_locked(const AnthropicEvent& event);
  void send_response_locked(http::HttpResponse response);
  // Detokenized text -> stop matching; returns the text safe to send.
  std::string feed_locked(const std::string& piece);

  std::shared_ptr<serving::ModelInstance> model_;
  MessagesOptions opt_;
  std::string id_;

  std::mutex mu_;
  serving::SeqId seq_ = 0;
  IncrementalDetokenizer detok_;
  serving::StopMatcher stops_;
  std::string raw_;            // everything detokenized
  std::string text_;           // what the client got (a prefix of raw_)
  std::string stop_reason_;    // "" while running
  std::string stop_sequence_;  // the stop sequence that ended it
  int32_t n_prompt_ = 0;
  int32_t n_output_ = 0;
  double queue_ms_ = -1;
  std::optional<ApiError> error_;
  bool timed_out_ = false;
  bool client_gone_ = false;
  bool completed_ = false;
  std::shared_ptr<http::ResponseStream> stream_;
  std::shared_ptr<http::PendingResponse> pending_;
  std::vector<std::string> early_events_;             // before the stream opened
  std::optional<http::HttpResponse> early_response_;  // before send() was possible
  TimerThread* timers_ = nullptr;
  TimerThread::TimerId timer_id_ = 0;
  int64_t timeout_seconds_ = 0;
};

}  // namespace mlxm::api
