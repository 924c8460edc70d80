#include "api/anthropic/messages_session.h"

#include "api/schema/anthropic_request.h"

namespace mlxm::api {
namespace {

std::string tool_use_id() {
  // "toolu_" + 24 alphanumerics, like the message ids.
  return "toolu_" + make_message_id().substr(4);
}

}  // namespace

http::HttpResponse anthropic_error_response(const ApiError& e) {
  http::HttpResponse r =
      http::HttpResponse::text(e.http_status, anthropic_error_body(e), "application/json");
  if (e.http_status == 503) r.headers.set("Retry-After", "1");
  return r;
}

MessagesSession::MessagesSession(std::shared_ptr<serving::ModelInstance> model,
                                 MessagesOptions options)
    : GenerationSession(std::move(model), options.stream, std::move(options.trace)),
      opt_(std::move(options)),
      id_(make_message_id()),
      text_(model_->tokenizer(), opt_.stop_sequences, /*skip_special_tokens=*/true,
            opt_.reply.kept_marker_ids),
      parser_(opt_.reply) {
  text_.prime(opt_.prefix_ids);
}

http::HttpResponse MessagesSession::start(serving::GenerationRequest request,
                                          std::chrono::milliseconds timeout, TimerThread& timers) {
  n_prompt_ = static_cast<int32_t>(request.prompt.size());
  std::vector<serving::GenerationRequest> requests;
  requests.push_back(std::move(request));
  return GenerationSession::start(std::move(requests), timeout, timers);
}

http::HttpResponse MessagesSession::error_response(const ApiError& e) const {
  return anthropic_error_response(e);
}

bool MessagesSession::lazy_blocks() const {
  return opt_.reply.reasoning || opt_.reply.tool_format != ToolFormat::kNone;
}

void MessagesSession::send_locked(const AnthropicEvent& event) {
  if (streaming_locked()) send_event_locked(http::sse_event(dump_ojson(event.data), event.event));
}

void MessagesSession::stream_head_locked() {
  send_locked(message_start_event(id_, opt_.model_name, n_prompt_));
  if (!lazy_blocks()) open_block_locked(Block::kText);
  send_locked(ping_event());
}

void MessagesSession::open_block_locked(Block kind) {
  close_block_locked();
  const int index = static_cast<int>(content_.size());
  if (kind == Block::kText) {
    content_.push_back({{"type", "text"}, {"text", ""}});
    send_locked(text_block_start_event(index));
  } else {
    content_.push_back({{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
    send_locked(content_block_start_event(index, content_.back()));
  }
  open_ = kind;
}

void MessagesSession::close_block_locked() {
  if (open_ == Block::kNone) return;
  if (open_ == Block::kToolUse) {
    ojson input = ojson::parse(tool_input_, nullptr, false);
    // A call cut off by max_tokens may have incomplete input; the block then holds {}.
    content_.back()["input"] = input.is_object() ? std::move(input) : ojson::object();
    tool_input_.clear();
    ++n_tool_calls_;
  }
  send_locked(content_block_stop_event(static_cast<int>(content_.size()) - 1));
  open_ = Block::kNone;
}

void MessagesSession::add_locked(const ReplyDelta& d) {
  if (!d.reasoning.empty()) {
    if (open_ != Block::kThinking) open_block_locked(Block::kThinking);
    content_.back()["thinking"] = content_.back()["thinking"].get<std::string>() + d.reasoning;
    send_locked(thinking_delta_event(static_cast<int>(content_.size()) - 1, d.reasoning));
  }
  if (!d.content.empty()) {
    if (open_ != Block::kText) open_block_locked(Block::kText);
    content_.back()["text"] = content_.back()["text"].get<std::string>() + d.content;
    send_locked(text_delta_event(static_cast<int>(content_.size()) - 1, d.content));
  }
  for (const ToolCallDelta& call : d.call_deltas) {
    // A tool_use block: opened with its name, input_json_delta per fragment, closed at the end.
    if (call.first) {
      close_block_locked();
      const int index = static_cast<int>(content_.size());
      ojson block = {{"type", "tool_use"}, {"id", tool_use_id()}, {"name", call.name}};
      block["input"] = ojson::object();
      send_locked(content_block_start_event(index, block));
      content_.push_back(std::move(block));
      open_ = Block::kToolUse;
    }
    if (open_ != Block::kToolUse) continue;
    if (!call.arguments.empty()) {
      tool_input_ += call.arguments;
      send_locked(input_json_delta_event(static_cast<int>(content_.size()) - 1, call.arguments));
    }
    if (call.last) close_block_locked();
  }
}

void MessagesSession::token_locked(size_t, const serving::TokenEvent& e) {
  if (!stop_reason_.empty()) return;  // ended by a stop sequence
  ++n_output_;
  auto delta = text_.add(e.token);
  if (delta.stopped) {
    stop_reason_ = "stop_sequence";
    abort_locked(0);  // the engine stops it on its next iteration
  }
  if (!delta.text.empty() && !client_gone_) add_locked(parser_.feed(delta.text));
}

void MessagesSession::finish_locked(size_t, const serving::FinishInfo& info) {
  queue_ms_ = info.queue_ms;
  if (stop_reason_.empty()) {
    switch (info.reason) {
      case serving::FinishReason::kStop: stop_reason_ = "end_turn"; break;
      case serving::FinishReason::kLength: stop_reason_ = "max_tokens"; break;
      case serving::FinishReason::kAborted: stop_reason_ = "abort"; break;
      case serving::FinishReason::kError: stop_reason_ = "error"; break;
    }
  }
  if (error_ || stop_reason_ == "abort" || client_gone_) return;
  add_locked(parser_.feed(text_.finish()));
  add_locked(parser_.finish());
  if (n_tool_calls_ > 0 && stop_reason_ == "end_turn") stop_reason_ = "tool_use";
}

std::optional<ApiError> MessagesSession::final_error_locked() const {
  auto err = GenerationSession::final_error_locked();
  if (!err && stop_reason_ == "abort") {
    err = ApiError{500, "server_error", "the request was aborted", "", ""};
  }
  return err;
}

void MessagesSession::complete_locked(const std::optional<ApiError>& err) {
  if (stream_mode_) {
    if (err) {
      send_locked(error_event(anthropic_error_type(*err), err->message));
      return;
    }
    if (content_.empty()) open_block_locked(Block::kText);
    close_block_locked();
    send_locked(message_delta_event(stop_reason_, text_.stop_sequence(), n_output_));
    send_locked(message_stop_event());
    return;
  }
  if (err) {
    send_response_locked(anthropic_error_response(*err));
    return;
  }
  if (content_.empty()) content_.push_back({{"type", "text"}, {"text", ""}});
  ojson msg = anthropic_message_json(id_, opt_.model_name, content_, stop_reason_,
                                     text_.stop_sequence(), {n_prompt_, n_output_});
  send_response_locked(http::HttpResponse::text(200, dump_ojson(msg), "application/json"));
}

void MessagesSession::trace_fields_locked(telemetry::RequestRecord& r) {
  r.model = opt_.model_name;
  r.prompt_tokens = n_prompt_;
  r.completion_tokens = n_output_;
  r.queue_ms = queue_ms_;
  r.finish_reason = stop_reason_;
  if (trace_.wants_content()) r.response_content = text_.text();
}

}  // namespace mlxm::api
