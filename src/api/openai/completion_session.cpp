#include "api/openai/completion_session.h"

#include "api/openai/openai_error.h"
#include "core/clock.h"

namespace mlxm::api {

using nlohmann::json;

CompletionSession::CompletionSession(std::shared_ptr<serving::ModelInstance> model,
                                     SessionOptions options)
    : GenerationSession(std::move(model), options.stream, std::move(options.trace)),
      opt_(std::move(options)),
      id_(make_completion_id(opt_.chat ? "chatcmpl" : "cmpl")),
      created_(unix_seconds()) {}

http::HttpResponse CompletionSession::start(std::vector<ChoiceSpec> choices,
                                            std::chrono::milliseconds timeout,
                                            TimerThread& timers) {
  std::vector<serving::GenerationRequest> requests;
  {
    std::lock_guard<std::mutex> lock(mu_);
    choices_.resize(choices.size());
    for (size_t i = 0; i < choices.size(); ++i) {
      Choice& c = choices_[i];
      c.out.emplace(model_->tokenizer(), opt_.stop, opt_.skip_special_tokens,
                    opt_.chat ? opt_.reply.kept_marker_ids : std::vector<int32_t>{});
      if (opt_.chat) c.parser.emplace(opt_.reply);
      c.echo_prefix = choices[i].echo_prefix;
      c.counts_prompt = choices[i].counts_prompt;
      c.n_prompt = static_cast<int32_t>(choices[i].request.prompt.size());
      requests.push_back(std::move(choices[i].request));
    }
  }
  return GenerationSession::start(std::move(requests), timeout, timers);
}

http::HttpResponse CompletionSession::error_response(const ApiError& e) const {
  return openai_error_response(e);
}

// A stream's first chunk of each choice carries the role (chat) or the echoed prompt.
void CompletionSession::stream_head_locked() {
  for (size_t i = 0; i < choices_.size(); ++i) {
    if (opt_.chat) {
      send_chunk_locked(i, {{"role", "assistant"}, {"content", ""}}, "", nullptr);
    } else if (!choices_[i].echo_prefix.empty()) {
      emit_locked(i, choices_[i].echo_prefix, nullptr);
    }
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

void CompletionSession::send_chunk_locked(size_t i, const json& delta, const std::string& finish,
                                          const std::vector<TokenLogprobEntry>* lps) {
  const int index = static_cast<int>(i);
  if (opt_.chat) {
    json lp = lps ? chat_logprobs_json(*lps) : json(nullptr);
    send_event_locked(http::sse_event(chat_chunk_json(id_, created_, opt_.model_name, index, delta,
                                                      finish, lp, opt_.include_usage)));
  } else {
    const Choice& c = choices_[i];
    json lp = lps ? completion_logprobs_json(*lps, c.echo_prefix.size() + c.out->text().size())
                  : json(nullptr);
    send_event_locked(http::sse_event(completion_chunk_json(
        id_, created_, opt_.model_name, index, delta.value("content", std::string()), finish, lp,
        opt_.include_usage)));
  }
}

void CompletionSession::emit_locked(size_t i, const std::string& text,
                                    const std::vector<TokenLogprobEntry>* lp) {
  ReplyDelta d;
  if (choices_[i].parser) {
    d = choices_[i].parser->feed(text);
  } else {
    d.content = text;
  }
  send_delta_locked(i, d, lp);
}

void CompletionSession::send_delta_locked(size_t i, const ReplyDelta& d,
                                          const std::vector<TokenLogprobEntry>* lp) {
  if (!stream_mode_) return;
  Choice& c = choices_[i];
  auto take_lp = [&]() {
    auto* l = lp;
    lp = nullptr;
    return l;
  };
  if (!d.reasoning.empty()) send_chunk_locked(i, {{"reasoning_content", d.reasoning}}, "", take_lp());
  if (!d.content.empty()) send_chunk_locked(i, {{"content", d.content}}, "", take_lp());
  for (const ToolCallDelta& call : d.call_deltas) {
    // A call: its index, id and name first (arguments ""), then argument fragments.
    if (call.first) {
      c.call_ids.push_back("call_" + make_completion_id("").substr(1));
      json head = {{"index", call.index},
                   {"id", c.call_ids.back()},
                   {"type", "function"},
                   {"function", {{"name", call.name}, {"arguments", ""}}}};
      send_chunk_locked(i, {{"tool_calls", json::array({head})}}, "", take_lp());
    }
    if (call.arguments.empty()) continue;
    json args = {{"index", call.index}, {"function", {{"arguments", call.arguments}}}};
    send_chunk_locked(i, {{"tool_calls", json::array({args})}}, "", take_lp());
  }
  if (lp) send_chunk_locked(i, json::object(), "", lp);  // a token whose text is held back
}

void CompletionSession::token_locked(size_t i, const serving::TokenEvent& e) {
  Choice& c = choices_[i];
  if (!c.finish_reason.empty()) return;  // ended by a stop string
  auto delta = c.out->add(e.token);
  ++c.n_tokens;
  std::optional<TokenLogprobEntry> lp;
  if (opt_.logprobs) {
    lp = logprob_entry(e);
    c.logprobs.push_back(*lp);
  }
  if (delta.stopped) {
    // The stop string ends this choice now; the engine stops it on its next iteration.
    c.finish_reason = "stop";
    abort_locked(i);
  }
  if (client_gone_) return;
  std::vector<TokenLogprobEntry> one;
  if (lp) one.push_back(*lp);
  if (!delta.text.empty() || lp) emit_locked(i, delta.text, lp ? &one : nullptr);
}

void CompletionSession::finish_locked(size_t i, const serving::FinishInfo& info) {
  Choice& c = choices_[i];
  c.n_cached = info.n_cached_prompt_tokens;
  c.queue_ms = info.queue_ms;
  if (c.finish_reason.empty()) {
    switch (info.reason) {
      case serving::FinishReason::kStop: c.finish_reason = "stop"; break;
      case serving::FinishReason::kLength: c.finish_reason = "length"; break;
      case serving::FinishReason::kAborted: c.finish_reason = "abort"; break;
      case serving::FinishReason::kError: c.finish_reason = "error"; break;
    }
  }
  if (completed_ || client_gone_ || error_ || timed_out_ || c.finish_reason == "abort") return;
  const std::string rest = c.out->finish();
  emit_locked(i, rest, nullptr);
  if (c.parser) {
    send_delta_locked(i, c.parser->finish(), nullptr);
    if (!c.parser->calls().empty() && c.finish_reason == "stop") c.finish_reason = "tool_calls";
  }
  if (stream_mode_) send_chunk_locked(i, json::object(), c.finish_reason, nullptr);
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

json CompletionSession::tool_calls_json(const Choice& c) const {
  json arr = json::array();
  if (!c.parser) return arr;
  const auto& calls = c.parser->calls();
  for (size_t k = 0; k < calls.size(); ++k) {
    const std::string id = k < c.call_ids.size() ? c.call_ids[k]
                                                 : "call_" + make_completion_id("").substr(1);
    arr.push_back({{"id", id},
                   {"type", "function"},
                   {"function", {{"name", calls[k].name}, {"arguments", calls[k].arguments}}}});
  }
  return arr;
}

void CompletionSession::complete_locked(const std::optional<ApiError>& err) {
  if (stream_mode_) {
    if (err) {
      send_event_locked(http::sse_event(openai_error_body(*err)));
      return;
    }
    if (opt_.include_usage) {
      const Usage u = usage_locked();
      send_event_locked(http::sse_event(
          opt_.chat ? chat_usage_chunk_json(id_, created_, opt_.model_name, u)
                    : completion_usage_chunk_json(id_, created_, opt_.model_name, u)));
    }
    send_event_locked(http::sse_event("[DONE]"));
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
    r.text = c.parser ? c.parser->content() : c.echo_prefix + c.out->text();
    r.finish_reason = c.finish_reason;
    if (opt_.logprobs) r.logprobs = c.logprobs;
    r.logprobs_text_offset = c.echo_prefix.size();
    if (c.parser) {
      r.reasoning = c.parser->reasoning();
      r.tool_calls = tool_calls_json(c);
    }
    results.push_back(std::move(r));
  }
  const Usage u = usage_locked();
  std::string body = opt_.chat ? chat_completion_json(id_, created_, opt_.model_name, results, u)
                               : text_completion_json(id_, created_, opt_.model_name, results, u);
  send_response_locked(http::HttpResponse::text(200, std::move(body), "application/json"));
}

void CompletionSession::trace_fields_locked(telemetry::RequestRecord& r) {
  r.model = opt_.model_name;
  const Usage u = usage_locked();
  r.prompt_tokens = u.prompt_tokens;
  r.completion_tokens = u.completion_tokens;
  r.cached_prompt_tokens = u.cached_tokens;
  for (const Choice& c : choices_) {
    if (c.queue_ms >= 0 && (r.queue_ms < 0 || c.queue_ms < r.queue_ms)) r.queue_ms = c.queue_ms;
  }
  if (!choices_.empty()) r.finish_reason = choices_[0].finish_reason;
  if (trace_.wants_content()) {
    std::string text;
    for (const Choice& c : choices_) text += c.echo_prefix + c.out->text();
    r.response_content = std::move(text);
  }
}

}  // namespace mlxm::api
