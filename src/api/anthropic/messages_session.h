// One /v1/messages request in flight, as the Anthropic protocol encoder over the shared
// GenerationSession core (api/common): a single sequence whose text is stop-matched and split
// into thinking, text and tool_use content blocks, sent as an Anthropic SSE event stream
// (message_start, content_block_start, ping, content_block_delta* — text_delta,
// thinking_delta, input_json_delta — content_block_stop, message_delta, message_stop;
// `event: error` for a failure after the stream opened) or one deferred message JSON.
// Without tools or reasoning the text block opens at once (the classic event order); with
// them, blocks open as their content arrives.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/common/generation_session.h"
#include "api/common/reply_parser.h"
#include "api/common/reply_text.h"
#include "api/schema/anthropic_stream.h"

namespace mlxm::api {

struct MessagesOptions {
  bool stream = false;
  std::string model_name;
  std::vector<std::string> stop_sequences;
  ReplyOptions reply;  // reasoning and tool-call parsing
  RequestTrace trace;  // recorded once when the request ends (audit log, metrics)
  // The reply's text so far when it continues an assistant prefill: fed to the detokenizer
  // first (output dropped) so the continuation decodes as it does after it (e.g. a
  // SentencePiece tokenizer keeps the first token's leading space).
  std::vector<int32_t> prefix_ids;
};

// Anthropic error response: the status (503 adds Retry-After: 1) and the Anthropic error body.
http::HttpResponse anthropic_error_response(const ApiError& e);

class MessagesSession : public GenerationSession {
 public:
  MessagesSession(std::shared_ptr<serving::ModelInstance> model, MessagesOptions options);

  // REQUIRES: request.prompt is non-empty and fits the model.
  http::HttpResponse start(serving::GenerationRequest request, std::chrono::milliseconds timeout,
                           TimerThread& timers);

 private:
  enum class Block { kNone, kText, kThinking, kToolUse };

  void stream_head_locked() override;
  void token_locked(size_t choice, const serving::TokenEvent& event) override;
  void finish_locked(size_t choice, const serving::FinishInfo& info) override;
  void complete_locked(const std::optional<ApiError>& err) override;
  std::optional<ApiError> final_error_locked() const override;
  void trace_fields_locked(telemetry::RequestRecord& record) override;
  http::HttpResponse error_response(const ApiError& error) const override;

  void send_locked(const AnthropicEvent& event);
  // Appends one step of the reply to the content blocks (and streams it).
  void add_locked(const ReplyDelta& delta);
  void open_block_locked(Block kind);
  void close_block_locked();
  bool lazy_blocks() const;

  MessagesOptions opt_;
  std::string id_;
  ReplyText text_;
  ReplyParser parser_;
  ojson content_ = ojson::array();  // the message's content blocks so far
  Block open_ = Block::kNone;       // the block being streamed into (the last of content_)
  int n_tool_calls_ = 0;
  std::string tool_input_;  // the open tool_use block's input JSON text so far
  std::string stop_reason_;  // "" while running
  int32_t n_prompt_ = 0;
  int32_t n_output_ = 0;
  double queue_ms_ = -1;
};

}  // namespace mlxm::api
