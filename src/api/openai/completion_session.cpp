#include "api/openai/completion_session.h"

#include "api/openai/openai_error.h"

#include "api/http/http_types.h"
#include "core/clock.h"
#include "core/log.h"

namespace mlxm::api {

using nlohmann::json;

namespace {

// Adapts the engine's TokenSink to one choice of a session.
class ChoiceSink : public serving::TokenSink {
 public:
  ChoiceSink(std::shared_ptr<CompletionSession> s, size_t i) : session_(std::move(s)), i_(i) {}
  void on_token(const serving::TokenEvent& e) override { session_->on_token(i_, e); }
  void on_finish(const serving::FinishInfo& f) override { session_->on_finish(i_, f); }

 private:
  std::shared_ptr<CompletionSession> session_;
  size_t i_;
};

}  // namespace

CompletionSession::CompletionSession(std::shared_ptr<serving::ModelInstance> model,
                                     SessionOptions options)
    : model_(std::move(model)),
      opt_(std::move(options)),
      id_(make_completion_id(opt_.chat ? "chatcmpl" : "cmpl")),
      created_(unix_seconds()) {}

http::HttpResponse CompletionSession::start(std::vector<ChoiceSpec> choices,
                                            std::chrono::milliseconds timeout,
                                            TimerThread& timers) {
  auto self = shared_from_this();
  {
    std::lock_guard<std::mutex> lock(mu_);
    choices_.resize(choices.size());
    for (size_t i = 0; i < choices.size(); ++i) {
      Choice& c = choices_[i];
      c.out.emplace(model_->tokenizer(), opt_.stop, opt_.skip_special_tokens);
      c.echo_prefix = choices[i].echo_prefix;
      c.counts_prompt = choices[i].counts_prompt;
      c.n_prompt = static_cast<int32_t>(choices[i].request.prompt.size());
    }
  }
  // A stream's first chunk of each choice carries the role (chat) or the echoed prompt; it is
  // queued before any choice is submitted, so no token can overtake it.
  if (opt_.stream) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < choices_.size(); ++i) {
      if (opt_.chat) {
        send_event_locked(chat_chunk_json(id_, created_, opt_.model_name, static_cast<int>(i),
                                          {{"role", "assistant"}, {"content", ""}}, "", nullptr,
                                          opt_.include_usage));
      } else if (!choices_[i].echo_prefix.empty()) {
        write_chunk_locked(i, choices_[i].echo_prefix, "", nullptr);
      }
    }
  }
  // Submit every choice; a failure withdraws the ones already queued.
  for (size_t i = 0; i < choices.size(); ++i) {
    choices[i].request.sink = std::make_shared<ChoiceSink>(self, i);
    auto id = model_->loop().submit(std::move(choices[i].request));
    if (!id.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      completed_ = true;
      for (size_t j = 0; j < i; ++j) model_->loop().abort(choices_[j].seq);
      return openai_error_response(api_error_from_status(id.status()));
    }
    std::lock_guard<std::mutex> lock(mu_);
    choices_[i].seq = *id;
  }
  timers_ = &timers;
  timeout_seconds_ = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  std::weak_ptr<CompletionSession> weak = self;
  timer_id_ = timers.schedule(timeout, [weak] {
    if (auto s = weak.lock()) s->on_timeout();
  });

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
      for (auto& ev : s->early_chunks_) stream->write(std::move(ev));
      s->early_chunks_.clear();
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

void CompletionSession::send_event_locked(std::string data) {
  std::string ev = http::sse_event(data);
  if (stream_) {
    stream_->write(std::move(ev));
  } else {
    early_chunks_.push_back(std::move(ev));
  }
}

void CompletionSession::send_response_locked(http::HttpResponse response) {
  if (pending_) {
    pending_->send(std::move(response));
  } else {
    early_response_ = std::move(response);
  }
}

TokenLogprobEntry CompletionSession::logprob_entry(const serving::TokenEvent& e) const {
  auto text_of = [&](int32_t id) {
    auto t = model_->tokenizer().decode(std::span<const int32_t>(&id, 1), false);
    return t.ok() ? *t : std::string();
  };
  TokenLogprobEntry entry{text_of(e.token), e.sample.logprob, {}};
  for (const auto& t : e.sample.top_logprobs()) {
    entry.top.push_back({text_of(t.token), t.logprob, {}});
  }
  return entry;
}

void CompletionSession::write_chunk_locked(size_t i, const std::string& text,
                                           const std::string& finish,
                                           const std::vector<TokenLogprobEntry>* lps) {
  const int index = static_cast<int>(i);
  if (opt_.chat) {
    json delta = json::object();
    if (!text.empty()) delta["content"] = text;
    json lp = lps ? chat_logprobs_json(*lps) : json(nullptr);
    send_event_locked(chat_chunk_json(id_, created_, opt_.model_name, index, delta, finish, lp,
                                      opt_.include_usage));
  } else {
    json lp = lps ? completion_logprobs_json(
                                   *lps, choices_[i].echo_prefix.size() + choices_[i].out->text().size()) : json(nullptr);
    send_event_locked(completion_chunk_json(id_, created_, opt_.model_name, index, text, finish,
                                            lp, opt_.include_usage));
  }
}

void CompletionSession::on_token(size_t i, const serving::TokenEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  Choice& c = choices_[i];
  if (c.done || completed_) return;
  auto delta = c.out->add(e.token);
  ++c.n_tokens;
  if (i == 0) opt_.trace.on_token();
  std::optional<TokenLogprobEntry> lp;
  if (opt_.logprobs) {
    lp = logprob_entry(e);
    c.logprobs.push_back(*lp);
  }
  if (delta.stopped) {
    // The stop string ends this choice now; the engine stops it on its next iteration.
    c.finish_reason = "stop";
    model_->loop().abort(c.seq);
  }
  if (opt_.stream && !client_gone_ && (!delta.text.empty() || lp)) {
    std::vector<TokenLogprobEntry> one;
    if (lp) one.push_back(*lp);
    write_chunk_locked(i, delta.text, "", lp ? &one : nullptr);
  }
}

void CompletionSession::on_finish(size_t i, const serving::FinishInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  Choice& c = choices_[i];
  if (c.done) return;
  c.done = true;
  c.n_cached = info.n_cached_prompt_tokens;
  c.queue_ms = info.queue_ms;
  if (c.finish_reason.empty()) {
    switch (info.reason) {
      case serving::FinishReason::kStop: c.finish_reason = "stop"; break;
      case serving::FinishReason::kLength: c.finish_reason = "length"; break;
      case serving::FinishReason::kAborted: c.finish_reason = "abort"; break;
      case serving::FinishReason::kError:
        c.finish_reason = "error";
        if (!error_) error_ = api_error_from_status(info.status);
        break;
    }
  }
  if (!completed_ && !client_gone_) {
    const std::string rest = c.out->finish();
    if (opt_.stream && !error_ && !timed_out_ && c.finish_reason != "abort") {
      if (!rest.empty()) write_chunk_locked(i, rest, "", nullptr);
      write_chunk_locked(i, "", c.finish_reason, nullptr);
    }
  }
  if (error_ && !completed_) abort_all_locked();
  maybe_complete_locked();
}

Usage CompletionSession::usage_locked() const {
  Usage u;
  for (const Choice& c : choices_) {
    if (c.counts_prompt) {
      u.prompt_tokens += c.n_prompt;
      u.cached_tokens += c.n_cached;
    }
    u.completion_tokens += c.n_tokens;
  }
  return u;
}

void CompletionSession::maybe_complete_locked() {
  if (completed_) return;
  for (const Choice& c : choices_) {
    if (!c.done) return;
  }
  completed_ = true;
  if (timers_) timers_->cancel(timer_id_);
  if (client_gone_) {
    trace_finish_locked(std::nullopt);
    return;
  }

  std::optional<ApiError> err = error_;
  if (!err && timed_out_) {
    err = api_error_from_status(deadline_exceeded(
        "the request timed out after " + std::to_string(timeout_seconds_) + " s"));
  }
  trace_finish_locked(err);
  if (opt_.stream) {
    if (err) {
      send_event_locked(openai_error_body(*err));
    } else {
      if (opt_.include_usage) {
        const Usage u = usage_locked();
        send_event_locked(opt_.chat ? chat_usage_chunk_json(id_, created_, opt_.model_name, u)
                                    : completion_usage_chunk_json(id_, created_, opt_.model_name, u));
      }
      send_event_locked("[DONE]");
    }
    if (stream_) stream_->close();
    return;
  }
  if (err) {
    send_response_locked(openai_error_response(*err));
    return;
  }
  std::vector<ChoiceResult> results;
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    ChoiceResult r;
    r.index = static_cast<int>(i);
    r.text = c.echo_prefix + c.out->text();
    r.finish_reason = c.finish_reason;
    if (opt_.logprobs) r.logprobs = c.logprobs;
    r.logprobs_text_offset = c.echo_prefix.size();
    results.push_back(std::move(r));
  }
  const Usage u = usage_locked();
  std::string body = opt_.chat ? chat_completion_json(id_, created_, opt_.model_name, results, u)
                               : text_completion_json(id_, created_, opt_.model_name, results, u);
  send_response_locked(http::HttpResponse::text(200, std::move(body), "application/json"));
}

void CompletionSession::trace_finish_locked(const std::optional<ApiError>& err) {
  if (!opt_.trace.active()) return;
  telemetry::RequestRecord& r = opt_.trace.record();
  r.model = opt_.model_name;
  r.backend = "local";
  r.stream = opt_.stream;
  const Usage u = usage_locked();
  r.prompt_tokens = u.prompt_tokens;
  r.completion_tokens = u.completion_tokens;
  r.cached_prompt_tokens = u.cached_tokens;
  for (const Choice& c : choices_) {
    if (c.queue_ms >= 0 && (r.queue_ms < 0 || c.queue_ms < r.queue_ms)) r.queue_ms = c.queue_ms;
  }
  if (!choices_.empty()) r.finish_reason = choices_[0].finish_reason;
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
  if (opt_.trace.wants_content()) {
    std::string text;
    for (const Choice& c : choices_) text += c.echo_prefix + c.out->text();
    r.response_content = std::move(text);
  }
  opt_.trace.finish();
}

void CompletionSession::abort_all_locked() {
  for (const Choice& c : choices_) {
    if (!c.done) model_->loop().abort(c.seq);
  }
}

void CompletionSession::on_client_gone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (completed_) return;
  client_gone_ = true;
  abort_all_locked();
}

void CompletionSession::on_timeout() {
  std::lock_guard<std::mutex> lock(mu_);
  if (completed_) return;
  timed_out_ = true;
  MLXM_LOG_WARN("request {} timed out; aborting", id_);
  abort_all_locked();
}

}  // namespace mlxm::api
