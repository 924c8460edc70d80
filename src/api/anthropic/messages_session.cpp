#include "api/anthropic/messages_session.h"

#include "api/schema/anthropic_request.h"
#include "core/log.h"

namespace mlxm::api {
namespace {

class MessagesSink : public serving::TokenSink {
 public:
  explicit MessagesSink(std::shared_ptr<MessagesSession> s) : session_(std::move(s)) {}
  void on_token(const serving::TokenEvent& e) override { session_->on_token(e); }
  void on_finish(const serving::FinishInfo& f) override { session_->on_finish(f); }

 private:
  std::shared_ptr<MessagesSession> session_;
};

}  // namespace

http::HttpResponse anthropic_error_response(const ApiError& e) {
  http::HttpResponse r =
      http::HttpResponse::text(e.http_status, anthropic_error_body(e), "application/json");
  if (e.http_status == 503) r.headers.set("Retry-After", "1");
  return r;
}

MessagesSession::MessagesSession(std::shared_ptr<serving::ModelInstance> model,
                                 MessagesOptions options)
    : model_(std::move(model)),
      opt_(std::move(options)),
      id_(make_message_id()),
      detok_(model_->tokenizer(), /*skip_special_tokens=*/true),
      stops_(opt_.stop_sequences) {
  for (int32_t id : opt_.prefix_ids) (void)detok_.add(id);
}

http::HttpResponse MessagesSession::start(serving::GenerationRequest request,
                                          std::chrono::milliseconds timeout, TimerThread& timers) {
  auto self = shared_from_this();
  std::weak_ptr<MessagesSession> weak = self;
  // Held across submit() (which never calls the sink itself) so that the engine thread's first
  // callback sees seq_ and the head of the stream already queued.
  std::lock_guard<std::mutex> lock(mu_);
  n_prompt_ = static_cast<int32_t>(request.prompt.size());
  request.sink = std::make_shared<MessagesSink>(self);
  auto seq = model_->loop().submit(std::move(request));
  if (!seq.ok()) {
    completed_ = true;
    return anthropic_error_response(api_error_from_status(seq.status()));
  }
  seq_ = *seq;
  timers_ = &timers;
  timeout_seconds_ = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  timer_id_ = timers.schedule(timeout, [weak] {
    if (auto s = weak.lock()) s->on_timeout();
  });
  if (opt_.stream) {
    send_event_locked(message_start_event(id_, opt_.model_name, n_prompt_));
    send_event_locked(text_block_start_event(0));
    send_event_locked(ping_event());
  }
  if (opt_.stream) {
    return http::HttpResponse::sse([weak](std::shared_ptr<http::ResponseStream> stream) {
      auto s = weak.lock();
      if (!s) {
        stream->close();
        return;
      }
      stream->on_close([weak] {
        if (auto s2 = weak.lock()) s2->on_client_gone();
      });
      std::lock_guard<std::mutex> lock(s->mu_);
      s->stream_ = stream;
      for (auto& ev : s->early_events_) stream->write(std::move(ev));
      s->early_events_.clear();
      if (s->completed_) stream->close();
    });
  }
  return http::HttpResponse::deferred([weak](std::shared_ptr<http::PendingResponse> pending) {
    auto s = weak.lock();
    if (!s) return;
    pending->on_close([weak] {
      if (auto s2 = weak.lock()) s2->on_client_gone();
    });
    std::lock_guard<std::mutex> lock(s->mu_);
    s->pending_ = pending;
    if (s->early_response_) {
      pending->send(std::move(*s->early_response_));
      s->early_response_.reset();
    }
  });
}

void MessagesSession::send_event_locked(const AnthropicEvent& event) {
  std::string ev = http::sse_event(dump_ojson(event.data), event.event);
  if (stream_) {
    stream_->write(std::move(ev));
  } else {
    early_events_.push_back(std::move(ev));
  }
}

void MessagesSession::send_response_locked(http::HttpResponse response) {
  if (pending_) {
    pending_->send(std::move(response));
  } else {
    early_response_ = std::move(response);
  }
}

std::string MessagesSession::feed_locked(const std::string& piece) {
  raw_ += piece;
  auto step = stops_.feed(piece);
  text_ += step.text;
  if (step.stopped && stop_reason_.empty()) {
    // The matched stop sequence starts right where the released text ends.
    for (const std::string& s : opt_.stop_sequences) {
      if (raw_.compare(text_.size(), s.size(), s) == 0) {
        stop_sequence_ = s;
        break;
      }
    }
    stop_reason_ = "stop_sequence";
    model_->loop().abort(seq_);  // the engine stops it on its next iteration
  }
  return std::move(step.text);
}

void MessagesSession::on_token(const serving::TokenEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (completed_ || !stop_reason_.empty()) return;
  ++n_output_;
  opt_.trace.on_token();
  auto piece = detok_.add(e.token);
  if (!piece.ok()) return;  // sampled ids are within the vocabulary
  const std::string text = feed_locked(*piece);
  if (opt_.stream && !client_gone_ && !text.empty()) send_event_locked(text_delta_event(0, text));
}

void MessagesSession::on_finish(const serving::FinishInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  if (completed_) return;
  queue_ms_ = info.queue_ms;
  if (stop_reason_.empty()) {
    switch (info.reason) {
      case serving::FinishReason::kStop: stop_reason_ = "end_turn"; break;
      case serving::FinishReason::kLength: stop_reason_ = "max_tokens"; break;
      case serving::FinishReason::kAborted: stop_reason_ = "abort"; break;
      case serving::FinishReason::kError:
        stop_reason_ = "error";
        error_ = api_error_from_status(info.status);
        break;
    }
    if (!error_ && stop_reason_ != "abort") {
      std::string rest = feed_locked(detok_.finish());
      if (!stops_.stopped()) {
        std::string held = stops_.flush();
        text_ += held;
        rest += held;
      }
      if (opt_.stream && !client_gone_ && !rest.empty())
        send_event_locked(text_delta_event(0, rest));
    }
  }
  complete_locked();
}

void MessagesSession::complete_locked() {
  completed_ = true;
  if (timers_) timers_->cancel(timer_id_);
  if (client_gone_) {
    trace_finish_locked(std::nullopt);
    return;
  }
  std::optional<ApiError> err = error_;
  if (!err && timed_out_) {
    err = api_error_from_status(deadline_exceeded("the request timed out after " +
                                                  std::to_string(timeout_seconds_) + " s"));
  }
  if (!err && stop_reason_ == "abort") {
    err = ApiError{500, "server_error", "the request was aborted", "", ""};
  }
  trace_finish_locked(err);
  if (opt_.stream) {
    if (err) {
      send_event_locked(error_event(anthropic_error_type(*err), err->message));
    } else {
      send_event_locked(content_block_stop_event(0));
      send_event_locked(message_delta_event(stop_reason_, stop_sequence_, n_output_));
      send_event_locked(message_stop_event());
    }
    if (stream_) stream_->close();
    return;
  }
  if (err) {
    send_response_locked(anthropic_error_response(*err));
    return;
  }
  ojson content = ojson::array({{{"type", "text"}, {"text", text_}}});
  ojson msg = anthropic_message_json(id_, opt_.model_name, std::move(content), stop_reason_,
                                     stop_sequence_, {n_prompt_, n_output_});
  send_response_locked(http::HttpResponse::text(200, dump_ojson(msg), "application/json"));
}

void MessagesSession::trace_finish_locked(const std::optional<ApiError>& err) {
  if (!opt_.trace.active()) return;
  telemetry::RequestRecord& r = opt_.trace.record();
  r.model = opt_.model_name;
  r.backend = "local";
  r.stream = opt_.stream;
  r.prompt_tokens = n_prompt_;
  r.completion_tokens = n_output_;
  r.queue_ms = queue_ms_;
  r.finish_reason = stop_reason_;
  using telemetry::RequestOutcome;
  if (client_gone_) {
    r.outcome = RequestOutcome::kCancelled;
    r.http_status = opt_.stream ? 200 : 499;  // 499: the client closed the request first
  } else if (err) {
    r.outcome = timed_out_ && !error_ ? RequestOutcome::kTimeout : RequestOutcome::kError;
    r.http_status = opt_.stream ? 200 : err->http_status;  // a stream already sent 200
    r.error_type = err->type;
    r.error_message = err->message;
  } else {
    r.outcome = RequestOutcome::kSuccess;
    r.http_status = 200;
  }
  if (opt_.trace.wants_content()) r.response_content = text_;
  opt_.trace.finish();
}

void MessagesSession::on_client_gone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (completed_) return;
  client_gone_ = true;
  model_->loop().abort(seq_);
}

void MessagesSession::on_timeout() {
  std::lock_guard<std::mutex> lock(mu_);
  if (completed_) return;
  timed_out_ = true;
  MLXM_LOG_WARN("request {} timed out; aborting", id_);
  model_->loop().abort(seq_);
}

}  // namespace mlxm::api
