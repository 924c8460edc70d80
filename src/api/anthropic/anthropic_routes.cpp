#include "api/anthropic/anthropic_routes.h"

#include <algorithm>

#include "api/anthropic/messages_session.h"
#include "api/common/keep_alive.h"
#include "api/common/tool_setup.h"
#include "api/http/json.h"
#include "api/schema/anthropic_request.h"
#include "core/env.h"
#include "serving/scheduler/live_limits.h"

namespace mlxm::api {
namespace {

http::HttpResponse error(const ApiError& e) {
  return anthropic_error_response(e);
}

http::HttpResponse model_error(const Status& st) {
  return error(api_error_from_status(st, "model"));
}

// The body as JSON in the client's key order, or the 400 to send.
std::optional<ojson> body_json(const http::HttpRequest& req, http::HttpResponse* err) {
  if (req.body.empty()) {
    *err = error(ApiError::invalid("", "the request body is empty; expected a JSON object"));
    return std::nullopt;
  }
  ojson b = ojson::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (b.is_discarded()) {
    *err = error(ApiError::invalid("", "the request body is not valid JSON"));
    return std::nullopt;
  }
  if (!b.is_object()) {
    *err = error(ApiError::invalid("", "the request body must be a JSON object"));
    return std::nullopt;
  }
  return b;
}

// The rendered prompt of a validated request, ready to tokenize.
struct Prompt {
  std::string text;
  std::string prefill;  // the final assistant text the reply continues ("" when none)
};

// {messages, tools?, tool_choice?, add_generation_prompt} for the chat template: the translated
// OpenAI-style messages with text parts joined and tool-call arguments as objects (what Hugging
// Face templates expect). With an assistant prefill the reply continues the last message: the
// template renders it as a finished turn and the prompt is cut right after its text.
std::variant<Prompt, ApiError> render_prompt(const AnthropicRequest& r,
                                             const serving::ModelInstance& m) {
  const ChatTemplate* tmpl = m.chat_template();
  if (!tmpl) {
    return ApiError::invalid(
        "messages", "the model '" + m.name() + "' has no chat template; /v1/messages needs one");
  }
  ojson messages = r.openai["messages"];
  for (auto& msg : messages) {
    if (msg["content"].is_array()) {
      std::string text;
      for (const auto& part : msg["content"]) {
        if (!text.empty()) text += "\n";
        text += part["text"].get<std::string>();
      }
      msg["content"] = text;
    }
    if (msg.contains("tool_calls")) {
      for (auto& tc : msg["tool_calls"]) {
        auto& args = tc["function"]["arguments"];
        args = ojson::parse(args.get<std::string>());  // produced by dump(): always valid
      }
    }
  }
  const ojson& last = messages.back();
  const bool prefill = r.continues_assistant && last["content"].is_string() &&
                       !last["content"].get<std::string>().empty() && !last.contains("tool_calls");
  const std::string prefill_text = prefill ? last["content"].get<std::string>() : "";
  ojson ctx = r.chat_template_kwargs;
  if (r.thinking && !ctx.contains("enable_thinking")) ctx["enable_thinking"] = *r.thinking;
  ctx["messages"] = std::move(messages);
  ctx["add_generation_prompt"] = !prefill;
  if (r.openai.contains("tools")) ctx["tools"] = r.openai["tools"];
  if (r.openai.contains("tool_choice")) ctx["tool_choice"] = r.openai["tool_choice"];
  TemplateErrorKind kind = TemplateErrorKind::kNone;
  auto text = tmpl->render(ctx, &kind);
  if (!text.ok()) {
    ApiError e = api_error_from_status(text.status(), "messages");
    if (kind == TemplateErrorKind::kRaised || kind == TemplateErrorKind::kRuntime) {
      e = ApiError::invalid("messages",
                            "the chat template rejected the messages: " + text.status().message());
    }
    return e;
  }
  Prompt p{std::move(*text), prefill_text};
  if (prefill) {
    const size_t pos = p.text.rfind(prefill_text);
    if (pos == std::string::npos) {
      return ApiError::invalid("messages",
                               "the chat template does not render the final "
                               "assistant message verbatim, so it cannot be continued");
    }
    p.text.resize(pos + prefill_text.size());
  }
  return p;
}

class AnthropicHandlers {
 public:
  explicit AnthropicHandlers(AnthropicDeps deps) : d_(std::move(deps)) {}

  http::HttpResponse messages(http::HttpRequest& req) {
    RequestTrace trace(d_.observer, req);
    http::HttpResponse err;
    auto body = body_json(req, &err);
    if (!body) return err;
    auto parsed = parse_anthropic_request(*body, AnthropicEndpoint::kMessages);
    if (auto* e = std::get_if<ApiError>(&parsed)) return error(*e);
    const auto& r = std::get<AnthropicRequest>(parsed);
    std::optional<std::chrono::seconds> keep_alive;
    if (auto e = parse_keep_alive(*body, &keep_alive)) return error(*e);
    auto model = d_.models->get(r.model);
    if (!model.ok()) return model_error(model.status());
    if (keep_alive) d_.models->set_keep_alive((*model)->name(), *keep_alive);
    const serving::ModelInstance& m = **model;
    auto prompt = render_prompt(r, m);
    if (auto* e = std::get_if<ApiError>(&prompt)) return error(*e);
    std::vector<int32_t> ids = m.tokenizer().encode(std::get<Prompt>(prompt).text, false);
    const int64_t n_prompt = static_cast<int64_t>(ids.size());
    if (n_prompt == 0) return error(ApiError::invalid("messages", "the prompt is empty"));
    if (n_prompt >= m.max_model_len()) {
      return error(ApiError::invalid("messages", "prompt is too long: " + std::to_string(n_prompt) +
                                                     " tokens > " +
                                                     std::to_string(m.max_model_len() - 1) +
                                                     " maximum for this model's context"));
    }
    serving::GenerationRequest g;
    g.prompt = std::move(ids);
    g.sampling = r.sampling;
    g.stop_token_ids = m.eos_ids();
    // Clients send large max_tokens (Claude Code: 32000); the reply is bounded by the context
    // that is left, and then ends with stop_reason max_tokens.
    g.max_new_tokens =
        static_cast<int32_t>(std::min<int64_t>(*r.max_tokens, m.max_model_len() - n_prompt));
    MessagesOptions o;
    {
      // Tools (in OpenAI form): the family's parser; tool_choice any/tool enforced by a grammar.
      auto reply = prepare_reply(m, tool_request_from_body(r.openai), std::get<Prompt>(prompt).text,
                                 {&g});
      if (auto* e = std::get_if<ApiError>(&reply)) return error(*e);
      o.reply = std::get<ReplyOptions>(std::move(reply));
    }
    o.stream = r.stream;
    o.model_name = m.name();
    o.stop_sequences = r.stop_sequences;
    o.trace = std::move(trace);
    const std::string& prefill = std::get<Prompt>(prompt).prefill;
    if (!prefill.empty()) o.prefix_ids = m.tokenizer().encode(prefill, false);
    auto session = std::make_shared<MessagesSession>(*model, std::move(o));
    return session->start(
        std::move(g),
        serving::live_or(d_.config.timeout, serving::live_limits().chat_timeout_seconds.load()),
        *d_.timers);
  }

  http::HttpResponse count_tokens(http::HttpRequest& req) {
    http::HttpResponse err;
    auto body = body_json(req, &err);
    if (!body) return err;
    auto parsed = parse_anthropic_request(*body, AnthropicEndpoint::kCountTokens);
    if (auto* e = std::get_if<ApiError>(&parsed)) return error(*e);
    const auto& r = std::get<AnthropicRequest>(parsed);
    auto model = d_.models->get(r.model);
    if (!model.ok()) return model_error(model.status());
    auto prompt = render_prompt(r, **model);
    if (auto* e = std::get_if<ApiError>(&prompt)) return error(*e);
    const size_t n = (*model)->tokenizer().encode(std::get<Prompt>(prompt).text, false).size();
    return http::json_response(200, nlohmann::json{{"input_tokens", n}});
  }

 private:
  AnthropicDeps d_;
};

}  // namespace

Result<AnthropicConfig> anthropic_config_from_env() {
  AnthropicConfig c;
  MLXM_ASSIGN_OR_RETURN(int64_t t, env_int("MLX_SERVER_TIMEOUT_CHAT_SECONDS", 900, 1, 86400 * 7));
  c.timeout = std::chrono::seconds(t);
  return c;
}

void register_anthropic_routes(http::Router& router, AnthropicDeps deps) {
  auto obs = deps.observer;
  auto route = deps.route ? deps.route : [](std::string_view, http::Handler local) { return local; };
  auto h = std::make_shared<AnthropicHandlers>(std::move(deps));
  router.add("POST", "/v1/messages",
             observed(obs, route("anthropic.messages",
                                 [h](http::HttpRequest& r) { return h->messages(r); })));
  router.add("POST", "/v1/messages/count_tokens",
             observed(obs, route("anthropic.count_tokens",
                                 [h](http::HttpRequest& r) { return h->count_tokens(r); })));
  // Errors the HTTP layer answers by itself (404/405, 413, malformed requests, draining) in
  // the Anthropic shape too.
  router.set_error_format("/v1/messages", [](const http::ErrorInfo& e) {
    return anthropic_error_body(
        ApiError{e.status, e.type, e.message, e.param.value_or(""), e.code.value_or("")});
  });
}

Status register_anthropic_routes(http::Router& router,
                                 std::shared_ptr<serving::ModelProvider> models,
                                 std::shared_ptr<TimerThread> timers,
                                 std::shared_ptr<telemetry::RequestObserver> observer,
                                 std::function<http::Handler(std::string_view, http::Handler)> route) {
  MLXM_ASSIGN_OR_RETURN(AnthropicConfig config, anthropic_config_from_env());
  register_anthropic_routes(router, AnthropicDeps{std::move(models), std::move(timers), config,
                                                  std::move(observer), std::move(route)});
  return ok_status();
}

}  // namespace mlxm::api
