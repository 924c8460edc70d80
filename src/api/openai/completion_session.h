// One chat or text completion request in flight, as the OpenAI protocol encoder over the
// shared GenerationSession core (api/common): each choice's text is stop-matched, split into
// reasoning, content and tool calls (chat), and written as chat.completion(.chunk) /
// text_completion objects — streamed deltas (content, reasoning_content, tool_calls: index,
// id, name, then the arguments) or one deferred JSON response.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/common/generation_session.h"
#include "api/common/reply_parser.h"
#include "api/common/reply_text.h"
#include "api/schema/openai_response.h"

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
  ReplyOptions reply;  // chat: reasoning and tool-call parsing
  RequestTrace trace;  // recorded once when the request ends (audit log, metrics)
};

class CompletionSession : public GenerationSession {
 public:
  // One choice to run: its engine request (sink filled in by start()) and, for echo, the text
  // that precedes the generated text.
  struct ChoiceSpec {
    serving::GenerationRequest request;
    std::string echo_prefix;
    bool counts_prompt = true;  // false for the 2nd..nth choice of the same prompt
  };

  CompletionSession(std::shared_ptr<serving::ModelInstance> model, SessionOptions options);

  http::HttpResponse start(std::vector<ChoiceSpec> choices, std::chrono::milliseconds timeout,
                           TimerThread& timers);

 private:
  struct Choice {
    std::optional<ReplyText> out;
    std::optional<ReplyParser> parser;  // chat only
    std::string echo_prefix;
    bool counts_prompt = true;
    std::vector<TokenLogprobEntry> logprobs;
    std::vector<std::string> call_ids;
    int32_t n_tokens = 0;  // tokens delivered to the client
    std::string finish_reason;  // "" while running
    int32_t n_prompt = 0;
    int32_t n_cached = 0;
    double queue_ms = -1;
  };

  void stream_head_locked() override;
  void token_locked(size_t choice, const serving::TokenEvent& event) override;
  void finish_locked(size_t choice, const serving::FinishInfo& info) override;
  void complete_locked(const std::optional<ApiError>& err) override;
  void trace_fields_locked(telemetry::RequestRecord& record) override;
  http::HttpResponse error_response(const ApiError& error) const override;

  // Streams one step of choice `i`'s output; `lp` goes with its first chunk.
  void emit_locked(size_t i, const std::string& text, const std::vector<TokenLogprobEntry>* lp);
  void send_delta_locked(size_t i, const ReplyDelta& delta,
                         const std::vector<TokenLogprobEntry>* lp);
  void send_chunk_locked(size_t i, const nlohmann::json& delta, const std::string& finish,
                         const std::vector<TokenLogprobEntry>* lps);
  TokenLogprobEntry logprob_entry(const serving::TokenEvent& event) const;
  nlohmann::json tool_calls_json(const Choice& c) const;
  Usage usage_locked() const;

  SessionOptions opt_;
  std::string id_;
  int64_t created_ = 0;
  std::vector<Choice> choices_;
};

}  // namespace mlxm::api
