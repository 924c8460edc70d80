#include "api/openai/openai_routes.h"

#include <nlohmann/json.hpp>

#include "api/common/constrain.h"
#include "api/common/keep_alive.h"
#include "api/common/tool_setup.h"
#include "api/http/json.h"
#include "api/openai/completion_session.h"
#include "api/openai/openai_error.h"
#include "api/schema/openai_request.h"
#include "api/schema/openai_response.h"
#include "core/env.h"
#include "serving/scheduler/live_limits.h"

namespace mlxm::api {

using nlohmann::json;

namespace {

http::HttpResponse error(const ApiError& e) { return openai_error_response(e); }

http::HttpResponse model_error(const Status& st) {
  ApiError e = api_error_from_status(st, "model");
  if (st.code() == StatusCode::kNotFound) e.code = "model_not_found";
  return error(e);
}

// Parses the body as JSON (400 naming the problem when malformed).
std::optional<json> body_json(const http::HttpRequest& req, http::HttpResponse* err) {
  http::JsonBody b = http::parse_json_body(req, /*require_object=*/true);
  if (!b.ok()) {
    *err = std::move(*b.error);
    return std::nullopt;
  }
  return std::move(b.value);
}

// The engine-side request shared by every choice.
serving::GenerationRequest base_request(const GenerationFields& g,
                                        const serving::ModelInstance& m) {
  serving::GenerationRequest r;
  r.sampling = g.sampling;
  if (!g.ignore_eos) r.stop_token_ids = m.eos_ids();
  return r;
}

// Fills prompt-dependent fields; returns an error for a prompt that cannot fit.
std::optional<ApiError> set_prompt(serving::GenerationRequest* r, std::vector<int32_t> prompt,
                                   const GenerationFields& g, const serving::ModelInstance& m) {
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0) return ApiError::invalid("prompt", "the prompt is empty");
  if (n_prompt >= m.max_model_len()) {
    ApiError e = ApiError::invalid(
        "messages", "the prompt has " + std::to_string(n_prompt) +
                        " tokens, but this model's context length is " +
                        std::to_string(m.max_model_len()) + " tokens");
    e.code = "context_length_exceeded";
    return e;
  }
  r->max_new_tokens =
      g.max_tokens ? *g.max_tokens : static_cast<int32_t>(m.max_model_len() - n_prompt);
  r->prompt = std::move(prompt);
  return std::nullopt;
}

SessionOptions session_options(const GenerationFields& g, const serving::ModelInstance& m,
                               bool chat) {
  SessionOptions o;
  o.chat = chat;
  o.stream = g.stream;
  o.include_usage = g.include_usage;
  o.model_name = m.name();
  o.stop = g.stop;
  o.logprobs = g.sampling.wants_logprobs();
  o.top_logprobs = g.sampling.top_logprobs;
  return o;
}

// n choices of one prompt; seeded choices get seed + i so they differ but stay reproducible.
void add_choices(std::vector<CompletionSession::ChoiceSpec>* out,
                 const serving::GenerationRequest& r, int n, const std::string& echo) {
  for (int i = 0; i < n; ++i) {
    CompletionSession::ChoiceSpec c;
    c.request = r;
    if (r.sampling.seed) c.request.sampling.seed = *r.sampling.seed + static_cast<uint64_t>(i);
    c.echo_prefix = echo;
    c.counts_prompt = i == 0;
    out->push_back(std::move(c));
  }
}

// {messages, tools?, add_generation_prompt, ...chat_template_kwargs} with the client's key order.
// REQUIRES: `body` was validated by parse_chat_completion_request into `cr`.
nlohmann::ordered_json template_context(const std::string& body, const ChatCompletionRequest& cr) {
  using ojson = nlohmann::ordered_json;
  ojson b = ojson::parse(body, nullptr, false);
  ojson ctx = ojson::object();
  if (b.contains("chat_template_kwargs") && b["chat_template_kwargs"].is_object()) {
    ctx = b["chat_template_kwargs"];
  }
  ojson messages = b["messages"];
  for (size_t i = 0; i < messages.size(); ++i) {
    ojson& m = messages[i];
    m["role"] = cr.messages[i]["role"].get<std::string>();  // developer -> system
    if (m.contains("content") && m["content"].is_array()) {
      m["content"] = cr.messages[i]["content"].get<std::string>();  // text parts joined
    }
  }
  ctx["messages"] = std::move(messages);
  ctx["add_generation_prompt"] = cr.add_generation_prompt;
  if (b.contains("tools") && b["tools"].is_array()) ctx["tools"] = b["tools"];
  return ctx;
}

class OpenAiHandlers {
 public:
  explicit OpenAiHandlers(OpenAiDeps deps) : d_(std::move(deps)) {}

  http::HttpResponse chat(http::HttpRequest& req) {
    RequestTrace trace(d_.observer, req);
    http::HttpResponse err;
    auto body = body_json(req, &err);
    if (!body) return err;
    auto parsed = parse_chat_completion_request(*body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return error(*e);
    auto& cr = std::get<ChatCompletionRequest>(parsed);
    std::optional<std::chrono::seconds> keep_alive;
    if (auto e = parse_keep_alive(*body, &keep_alive)) return error(*e);
    auto model = d_.models->get(cr.gen.model);
    if (!model.ok()) return model_error(model.status());
    if (keep_alive) d_.models->set_keep_alive((*model)->name(), *keep_alive);
    const serving::ModelInstance& m = **model;
    if (!m.chat_template()) {
      return error(ApiError::invalid("messages", "the model '" + m.name() +
                                                     "' has no chat template; use /v1/completions"));
    }
    // The template sees the client's objects in their original key order (as Python dicts keep
    // it), so re-read the validated body preserving order.
    nlohmann::ordered_json ctx = template_context(req.body, cr);
    TemplateErrorKind kind = TemplateErrorKind::kNone;
    auto text = m.chat_template()->render(ctx, &kind);
    if (!text.ok()) {
      ApiError e = api_error_from_status(text.status(), "messages");
      if (kind == TemplateErrorKind::kRaised || kind == TemplateErrorKind::kRuntime) {
        e.http_status = 400;
        e.type = "invalid_request_error";
        e.message = "the chat template rejected the messages: " + text.status().message();
      }
      return error(e);
    }
    serving::GenerationRequest r = base_request(cr.gen, m);
    if (auto e = set_prompt(&r, m.tokenizer().encode(*text, false), cr.gen, m)) return error(*e);
    std::vector<CompletionSession::ChoiceSpec> choices;
    add_choices(&choices, r, cr.gen.n, "");
    ReplyOptions so_reply;
    {
      // response_format json_object / json_schema: enforced while decoding.
      std::vector<serving::GenerationRequest*> reqs;
      for (auto& c : choices) reqs.push_back(&c.request);
      if (auto e = apply_response_format(req.body, m, reqs)) return error(*e);
      // Tools: the family's parser; tool_choice required/named enforced by a grammar.
      auto reply = prepare_reply(m, tool_request_from_body(nlohmann::ordered_json::parse(req.body)),
                                 *text, std::move(reqs));
      if (auto* e = std::get_if<ApiError>(&reply)) return error(*e);
      so_reply = std::get<ReplyOptions>(std::move(reply));
    }
    SessionOptions so = session_options(cr.gen, m, true);
    so.reply = std::move(so_reply);
    so.trace = std::move(trace);
    auto session = std::make_shared<CompletionSession>(*model, std::move(so));
    return session->start(std::move(choices),
                          serving::live_or(d_.config.chat_timeout,
                                           serving::live_limits().chat_timeout_seconds.load()),
                          *d_.timers);
  }

  http::HttpResponse completions(http::HttpRequest& req) {
    RequestTrace trace(d_.observer, req);
    http::HttpResponse err;
    auto body = body_json(req, &err);
    if (!body) return err;
    auto parsed = parse_completion_request(*body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return error(*e);
    auto& cr = std::get<CompletionRequest>(parsed);
    std::optional<std::chrono::seconds> keep_alive;
    if (auto e = parse_keep_alive(*body, &keep_alive)) return error(*e);
    auto model = d_.models->get(cr.gen.model);
    if (!model.ok()) return model_error(model.status());
    if (keep_alive) d_.models->set_keep_alive((*model)->name(), *keep_alive);
    const serving::ModelInstance& m = **model;
    std::vector<CompletionSession::ChoiceSpec> choices;
    for (const Prompt& p : cr.prompts) {
      std::vector<int32_t> ids;
      std::string prompt_text;
      if (const auto* s = std::get_if<std::string>(&p)) {
        ids = m.tokenizer().encode(*s, true);
        prompt_text = *s;
      } else {
        ids = std::get<std::vector<int32_t>>(p);
        for (int32_t id : ids) {
          if (id >= m.tokenizer().vocab_size()) {
            return error(ApiError::invalid("prompt", "token id " + std::to_string(id) +
                                                         " is outside the vocabulary"));
          }
        }
        if (cr.echo) prompt_text = m.tokenizer().decode(ids, false).value();
      }
      serving::GenerationRequest r = base_request(cr.gen, m);
      if (auto e = set_prompt(&r, std::move(ids), cr.gen, m)) {
        e->param = "prompt";
        return error(*e);
      }
      add_choices(&choices, r, cr.gen.n, cr.echo ? prompt_text : "");
    }
    {
      // response_format / grammar: enforced while decoding, as for chat.
      std::vector<serving::GenerationRequest*> reqs;
      for (auto& c : choices) reqs.push_back(&c.request);
      if (auto e = apply_response_format(req.body, m, reqs)) return error(*e);
    }
    SessionOptions so = session_options(cr.gen, m, false);
    so.trace = std::move(trace);
    auto session = std::make_shared<CompletionSession>(*model, std::move(so));
    return session->start(
        std::move(choices),
        serving::live_or(d_.config.completions_timeout,
                         serving::live_limits().completions_timeout_seconds.load()),
        *d_.timers);
  }

  http::HttpResponse tokenize(http::HttpRequest& req) {
    http::HttpResponse err;
    auto body = body_json(req, &err);
    if (!body) return err;
    const json& b = *body;
    auto model = d_.models->get(b.value("model", std::string()));
    if (!model.ok()) return model_error(model.status());
    const serving::ModelInstance& m = **model;
    bool add_special = b.contains("add_special_tokens") && b["add_special_tokens"].is_boolean()
                           ? b["add_special_tokens"].get<bool>()
                           : true;
    std::string text;
    if (b.contains("prompt") && b["prompt"].is_string()) {
      text = b["prompt"].get<std::string>();
    } else if (b.contains("content") && b["content"].is_string()) {  // llama-server spelling
      text = b["content"].get<std::string>();
    } else if (b.contains("messages")) {
      auto parsed = parse_chat_completion_request(b);
      if (auto* e = std::get_if<ApiError>(&parsed)) return error(*e);
      if (!m.chat_template()) return error(ApiError::invalid("messages", "the model has no chat template"));
      json ctx = json::object();
      ctx["messages"] = std::get<ChatCompletionRequest>(parsed).messages;
      ctx["add_generation_prompt"] = b.value("add_generation_prompt", true);
      auto rendered = m.chat_template()->render(ctx);
      if (!rendered.ok()) return error(api_error_from_status(rendered.status(), "messages"));
      text = *rendered;
      if (!b.contains("add_special_tokens")) add_special = false;
    } else {
      return error(ApiError::invalid("prompt", "'prompt' (a string) or 'messages' is required"));
    }
    auto ids = m.tokenizer().encode(text, add_special);
    json out = {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", m.max_model_len()}};
    return http::json_response(200, out);
  }

  http::HttpResponse detokenize(http::HttpRequest& req) {
    http::HttpResponse err;
    auto body = body_json(req, &err);
    if (!body) return err;
    const json& b = *body;
    auto model = d_.models->get(b.value("model", std::string()));
    if (!model.ok()) return model_error(model.status());
    if (!b.contains("tokens") || !b["tokens"].is_array()) {
      return error(ApiError::invalid("tokens", "'tokens' must be an array of token ids"));
    }
    std::vector<int32_t> ids;
    for (const auto& t : b["tokens"]) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX) {
        return error(ApiError::invalid("tokens", "'tokens' must hold non-negative integers"));
      }
      ids.push_back(t.get<int32_t>());
    }
    auto text = (*model)->tokenizer().decode(ids, false);
    if (!text.ok()) return error(api_error_from_status(text.status(), "tokens"));
    return http::json_response(200, json{{"prompt", *text}});
  }

 private:
  OpenAiDeps d_;
};

}  // namespace

Result<OpenAiConfig> openai_config_from_env() {
  OpenAiConfig c;
  MLXM_ASSIGN_OR_RETURN(int64_t chat, env_int("MLX_SERVER_TIMEOUT_CHAT_SECONDS", 900, 1, 86400 * 7));
  MLXM_ASSIGN_OR_RETURN(int64_t comp, env_int("MLX_SERVER_TIMEOUT_COMPLETIONS_SECONDS", 600, 1, 86400 * 7));
  c.chat_timeout = std::chrono::seconds(chat);
  c.completions_timeout = std::chrono::seconds(comp);
  return c;
}

void register_openai_routes(http::Router& router, OpenAiDeps deps) {
  auto obs = deps.observer;
  auto route = deps.route ? deps.route : [](std::string_view, http::Handler local) { return local; };
  auto h = std::make_shared<OpenAiHandlers>(std::move(deps));
  // observed(): plain answers (4xx before a session, tokenize) are recorded here; sessions
  // record streamed and deferred ones when they end. route(): rules may send a model to a cloud
  // backend (or fall back to one) before the local handler is asked.
  router.add("POST", "/v1/chat/completions",
             observed(obs, route("openai.chat", [h](http::HttpRequest& r) { return h->chat(r); })));
  router.add("POST", "/v1/completions",
             observed(obs, route("openai.completions",
                                 [h](http::HttpRequest& r) { return h->completions(r); })));
  router.add("POST", "/tokenize", observed(obs, [h](http::HttpRequest& r) { return h->tokenize(r); }));
  router.add("POST", "/detokenize",
             observed(obs, [h](http::HttpRequest& r) { return h->detokenize(r); }));
}

}  // namespace mlxm::api
