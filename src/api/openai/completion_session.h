// One chat or text completion request in flight: its choices (prompts × n), each a sequence in
// the model's engine loop, and where their output goes — an SSE stream or one deferred JSON
// response. Sinks run on the engine thread; disconnects and timeouts arrive from io and timer
// threads; all of them meet under the session's mutex and never block.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/http/http_types.h"
#include "api/observe/request_trace.h"
#include "core/timer_thread.h"
#include "api/schema/api_error.h"
#include "api/schema/openai_response.h"
#include "serving/model_instance.h"
#include "serving/output/text_output.h"

namespace mlxm::api {

struct SessionOptions {
  bool chat = true;           // chat.completion(.chunk) vs text_completion
  bool stream = false;
  bool include_usage = false;
  std::string model_name;
  std::vector<std::string> stop;
  bool logprobs = false;
  int top_logprobs = 0;
  bool skip_special_tokens = true;
  RequestTrace trace;  // recorded once when the request ends (audit log, metrics)
};

class CompletionSession : public std::enable_shared_from_this<CompletionSession> {
 public:
  // One choice to run: its engine request (sink filled in by start()) and, for echo, the text
  // that precedes the generated text.
  struct ChoiceSpec {
    serving::GenerationRequest request;
    std::string echo_prefix;
    bool counts_prompt = true;  // false for the 2nd..nth choice of the same prompt
  };

  CompletionSession(std::shared_ptr<serving::ModelInstance> model, SessionOptions options);

  // Submits every choice and returns the HTTP response (SSE or deferred). A submit failure
  // before anything was sent becomes an error response (400 / 503 with Retry-After).
  // `timers` runs the timeout and must outlive the session's requests.
  http::HttpResponse start(std::vector<ChoiceSpec> choices, std::chrono::milliseconds timeout,
                           TimerThread& timers);

  // Engine-thread callbacks (through the per-choice sinks).
  void on_token(size_t choice, const serving::TokenEvent& event);
  void on_finish(size_t choice, const serving::FinishInfo& info);

 private:
  struct Choice {
    serving::SeqId seq = 0;
    std::optional<serving::TextOutput> out;
    std::string echo_prefix;
    bool counts_prompt = true;
    std::vector<TokenLogprobEntry> logprobs;
    int32_t n_tokens = 0;  // tokens delivered to the client
    std::string finish_reason;  // "" while running
    bool done = false;
    int32_t n_prompt = 0;
    int32_t n_cached = 0;
    double queue_ms = -1;
  };

  void abort_all_locked();
  void on_client_gone();
  void on_timeout();
  void maybe_complete_locked();
  void trace_finish_locked(const std::optional<ApiError>& err);
  void send_event_locked(std::string event);
  void send_response_locked(http::HttpResponse response);
  void write_chunk_locked(size_t choice, const std::string& text, const std::string& finish,
                          const std::vector<TokenLogprobEntry>* lps);
  TokenLogprobEntry logprob_entry(const serving::TokenEvent& event) const;
  Usage usage_locked() const;

  std::shared_ptr<serving::ModelInstance> model_;
  SessionOptions opt_;
  std::string id_;
  int64_t created_ = 0;

  std::mutex mu_;
  std::vector<Choice> choices_;
  std::shared_ptr<http::ResponseStream> stream_;
  std::shared_ptr<http::PendingResponse> pending_;
  std::optional<ApiError> error_;  // a failure to report instead of the result
  bool timed_out_ = false;
  bool client_gone_ = false;
  bool completed_ = false;
  std::vector<std::string> early_chunks_;  // SSE events produced before the stream opened
  std::optional<http::HttpResponse> early_response_;  // result ready before send() was possible
  TimerThread* timers_ = nullptr;
  TimerThread::TimerId timer_id_ = 0;
  int64_t timeout_seconds_ = 0;
};

}  // namespace mlxm::api
