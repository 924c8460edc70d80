#include "api/common/generation_session.h"

#include "core/log.h"

namespace mlxm::api {
namespace {

// Adapts the engine's TokenSink to one choice of a session.
class ChoiceSink : public serving::TokenSink {
 public:
  ChoiceSink(std::shared_ptr<GenerationSession> s, size_t i) : session_(std::move(s)), i_(i) {}
  void on_token(const serving::TokenEvent& e) override { session_->on_token(i_, e); }
  void on_finish(const serving::FinishInfo& f) override { session_->on_finish(i_, f); }

 private:
  std::shared_ptr<GenerationSession> session_;
  size_t i_;
};

}  // namespace

GenerationSession::GenerationSession(std::shared_ptr<serving::ModelInstance> model, bool stream,
                                     RequestTrace trace)
    : model_(std::move(model)), stream_mode_(stream), trace_(std::move(trace)) {}

http::HttpResponse GenerationSession::start(std::vector<serving::GenerationRequest> requests,
                                            std::chrono::milliseconds timeout,
                                            TimerThread& timers) {
  auto self = shared_from_this();
  std::weak_ptr<GenerationSession> weak = self;
  {
    // Held across submit() (which never calls a sink itself), so the engine thread's first
    // callback sees every seq id and the head of the stream already queued.
    std::lock_guard<std::mutex> lock(mu_);
    seqs_.assign(requests.size(), 0);
    done_.assign(requests.size(), false);
    if (stream_mode_) stream_head_locked();
    for (size_t i = 0; i < requests.size(); ++i) {
      requests[i].sink = std::make_shared<ChoiceSink>(self, i);
      auto id = model_->loop().submit(std::move(requests[i]));
      if (!id.ok()) {
        completed_ = true;
        for (size_t j = 0; j < i; ++j) model_->loop().abort(seqs_[j]);
        return error_response(api_error_from_status(id.status()));
      }
      seqs_[i] = *id;
    }
    timers_ = &timers;
    timeout_seconds_ = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
    timer_id_ = timers.schedule(timeout, [weak] {
      if (auto s = weak.lock()) s->on_timeout();
    });
  }
  if (stream_mode_) {
    // The response holds the session strongly until the server hands it the stream: a short
    // generation may finish (and the engine drop its reference) before that, and its buffered
    // events must still go out. No cycle: the session never holds the response.
    return http::HttpResponse::sse([self, weak](std::shared_ptr<http::ResponseStream> stream) {
      const auto& s = self;
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
  // Strong for the same reason: the answer may be complete before the server asks for it.
  return http::HttpResponse::deferred([self, weak](std::shared_ptr<http::PendingResponse> pending) {
    const auto& s = self;
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

void GenerationSession::send_event_locked(std::string ev) {
  if (stream_) {
    stream_->write(std::move(ev));
  } else {
    early_events_.push_back(std::move(ev));
  }
}

void GenerationSession::send_response_locked(http::HttpResponse response) {
  if (pending_) {
    pending_->send(std::move(response));
  } else {
    early_response_ = std::move(response);
  }
}

void GenerationSession::abort_locked(size_t i) { model_->loop().abort(seqs_[i]); }

void GenerationSession::on_token(size_t i, const serving::TokenEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_[i] || completed_) return;
  if (i == 0) trace_.on_token();
  token_locked(i, e);
}

void GenerationSession::on_finish(size_t i, const serving::FinishInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_[i]) return;
  done_[i] = true;
  if (info.reason == serving::FinishReason::kError && !error_) {
    error_ = api_error_from_status(info.status);
  }
  finish_locked(i, info);
  if (error_ && !completed_) abort_all_locked();
  maybe_complete_locked();
}

std::optional<ApiError> GenerationSession::final_error_locked() const {
  if (error_) return error_;
  if (timed_out_) {
    return api_error_from_status(deadline_exceeded(
        "the request timed out after " + std::to_string(timeout_seconds_) + " s"));
  }
  return std::nullopt;
}

void GenerationSession::maybe_complete_locked() {
  if (completed_) return;
  for (bool d : done_) {
    if (!d) return;
  }
  completed_ = true;
  if (timers_) timers_->cancel(timer_id_);
  if (client_gone_) {
    trace_finish_locked(std::nullopt);
    return;
  }
  const std::optional<ApiError> err = final_error_locked();
  trace_finish_locked(err);
  complete_locked(err);
  if (stream_mode_ && stream_) stream_->close();
}

void GenerationSession::trace_finish_locked(const std::optional<ApiError>& err) {
  if (!trace_.active()) return;
  telemetry::RequestRecord& r = trace_.record();
  r.backend = "local";
  r.stream = stream_mode_;
  trace_fields_locked(r);
  using telemetry::RequestOutcome;
  if (client_gone_) {
    r.outcome = RequestOutcome::kCancelled;
    r.http_status = stream_mode_ ? 200 : 499;  // 499: the client closed the request first
  } else if (err) {
    r.outcome = timed_out_ && !error_ ? RequestOutcome::kTimeout : RequestOutcome::kError;
    r.http_status = stream_mode_ ? 200 : err->http_status;  // a stream already sent 200
    r.error_type = err->type;
    r.error_message = err->message;
  } else {
    r.outcome = RequestOutcome::kSuccess;
    r.http_status = 200;
  }
  trace_.finish();
}

void GenerationSession::abort_all_locked() {
  for (size_t i = 0; i < seqs_.size(); ++i) {
    if (!done_[i]) model_->loop().abort(seqs_[i]);
  }
}

void GenerationSession::on_client_gone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (completed_) return;
  client_gone_ = true;
  abort_all_locked();
}

void GenerationSession::on_timeout() {
  std::lock_guard<std::mutex> lock(mu_);
  if (completed_) return;
  timed_out_ = true;
  MLXM_LOG_WARN("request timed out after {} s; aborting", timeout_seconds_);
  abort_all_locked();
}

}  // namespace mlxm::api
