#include "cloud/upstream.h"

#include "api/schema/anthropic_request.h"
#include "api/schema/anthropic_translate.h"
#include "core/clock.h"

namespace mlxm::cloud {

namespace {

constexpr const char* kAnthropicVersion = "2023-06-01";

// One SSE frame; every line of `data` becomes its own data: line.
std::string frame(std::string_view event, std::string_view data) {
  std::string out;
  if (!event.empty()) {
    out += "event: ";
    out += event;
    out += "\n";
  }
  size_t start = 0;
  while (true) {
    const size_t nl = data.find('\n', start);
    out += "data: ";
    out += data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    out += "\n";
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out += "\n";
  return out;
}

std::string redact(std::string s, const std::string& key) {
  if (key.size() < 4) return s;
  for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p)) {
    s.replace(p, key.size(), "[redacted]");
  }
  return s;
}

int64_t int_or(const ojson& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : 0;
}

}  // namespace

WireProtocol client_protocol(ClientApi api) {
  return api == ClientApi::kAnthropicMessages ? WireProtocol::kAnthropic : WireProtocol::kOpenAi;
}

api::Parsed<UpstreamPlan> plan_upstream(ClientApi api, const ojson& body, const ProviderConfig& p,
                                        const std::string& model, const HeaderPairs& forward) {
  UpstreamPlan plan;
  const WireProtocol to = provider_protocol(p.kind);
  ojson out;
  if (client_protocol(api) == to) {
    out = body;
  } else if (api == ClientApi::kOpenAiCompletions) {
    return api::ApiError::invalid(
        "model", "/v1/completions cannot be routed to provider '" + p.name +
                     "': it speaks the Anthropic Messages API (use /v1/chat/completions)");
  } else if (api == ClientApi::kOpenAiChat) {
    auto t = api::openai_chat_to_anthropic(body);
    if (auto* e = std::get_if<api::ApiError>(&t)) return *e;
    out = std::get<ojson>(std::move(t));
  } else {
    api::AnthropicToOpenAiOptions o;
    o.allow_images = true;
    auto t = api::anthropic_to_openai_chat(body, o);
    if (auto* e = std::get_if<api::ApiError>(&t)) return *e;
    out = std::get<ojson>(std::move(t));
  }
  out["model"] = model;
  plan.stream = out.contains("stream") && out["stream"].is_boolean() && out["stream"].get<bool>();
  const std::string key = resolve_api_key(p);
  plan.http.method = "POST";
  plan.http.headers.emplace_back("Content-Type", "application/json");
  if (plan.stream) plan.http.headers.emplace_back("Accept", "text/event-stream");
  if (to == WireProtocol::kAnthropic) {
    plan.http.url = p.base_url + "/messages";
    if (!key.empty()) plan.http.headers.emplace_back("x-api-key", key);
    bool have_version = false;
    for (const auto& [k, v] : forward) {
      if (k == "anthropic-version") have_version = true;
      if (k == "anthropic-version" || k == "anthropic-beta") plan.http.headers.emplace_back(k, v);
    }
    if (!have_version) plan.http.headers.emplace_back("anthropic-version", kAnthropicVersion);
  } else {
    plan.http.url = p.base_url + (api == ClientApi::kOpenAiCompletions ? "/completions" : "/chat/completions");
    if (!key.empty()) plan.http.headers.emplace_back("Authorization", "Bearer " + key);
  }
  plan.http.body = api::dump_ojson(out);
  return plan;
}

api::Parsed<std::string> relay_body(ClientApi api, WireProtocol upstream, const std::string& body) {
  if (client_protocol(api) == upstream) return body;
  api::ApiError bad_gateway;
  bad_gateway.http_status = 502;
  bad_gateway.type = "server_error";
  ojson j = ojson::parse(body, nullptr, false);
  if (!j.is_object()) {
    bad_gateway.message = "the provider's response is not a JSON object";
    return bad_gateway;
  }
  auto t = api == ClientApi::kAnthropicMessages ? api::openai_chat_to_anthropic_message(j)
                                                 : api::anthropic_message_to_openai_chat(j, unix_seconds());
  if (auto* e = std::get_if<api::ApiError>(&t)) {
    bad_gateway.message = "the provider's response could not be translated: " + e->message;
    return bad_gateway;
  }
  return api::dump_ojson(std::get<ojson>(t));
}

api::ApiError upstream_error(const std::string& provider, long status, const std::string& body,
                             const std::string& key) {
  api::ApiError e;
  std::string message, type;
  ojson j = ojson::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const ojson& err = j["error"];
    if (err.contains("message") && err["message"].is_string()) message = err["message"].get<std::string>();
    if (err.contains("type") && err["type"].is_string()) type = err["type"].get<std::string>();
  } else if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    message = j["message"].get<std::string>();
  }
  if (message.empty()) message = body.substr(0, 300);
  // 5xx, and 401/403 (our key for that provider is wrong, not the client's), are gateway errors.
  if (status >= 500 || status < 400 || status == 401 || status == 403) {
    e.http_status = 502;
    e.type = "server_error";
  } else {
    e.http_status = static_cast<int>(status);
    e.type = !type.empty() ? type : status == 429 ? "rate_limit_error" : "invalid_request_error";
  }
  e.message = redact("provider '" + provider + "' answered HTTP " + std::to_string(status) +
                         (message.empty() ? "" : ": " + message),
                     key);
  return e;
}

std::string error_frame(ClientApi api, const api::ApiError& e) {
  if (api == ClientApi::kAnthropicMessages) {
    auto ev = api::error_event(api::anthropic_error_type(e), e.message);
    return frame(ev.event, api::dump_ojson(ev.data));
  }
  return frame("", api::openai_error_body(e));
}

StreamRelay::StreamRelay(ClientApi api, WireProtocol upstream, const ojson& client_body,
                         std::string model)
    : api_(api), upstream_(upstream) {
  if (client_protocol(api) == upstream) return;
  if (api == ClientApi::kAnthropicMessages) {
    to_anthropic_ = std::make_unique<api::OpenAiToAnthropicStream>(api::make_message_id(), model);
  } else {
    bool include_usage = false;
    if (client_body.contains("stream_options") && client_body["stream_options"].is_object()) {
      const ojson& so = client_body["stream_options"];
      include_usage = so.contains("include_usage") && so["include_usage"].is_boolean() &&
                      so["include_usage"].get<bool>();
    }
    to_openai_ = std::make_unique<api::AnthropicToOpenAiStream>(unix_seconds(), include_usage);
  }
}

StreamRelay::~StreamRelay() = default;

Result<int> StreamRelay::feed(std::string_view bytes, std::vector<std::string>* out) {
  int n_content = 0;
  Status st = parser_.feed(bytes, [&](SseEvent&& ev) { n_content += on_event(std::move(ev), out); });
  if (!st.ok()) return st;
  return n_content;
}

void StreamRelay::note_usage(const ojson& j) {
  if (upstream_ == WireProtocol::kOpenAi) {
    if (j.contains("usage") && j["usage"].is_object()) {
      usage_.prompt_tokens = int_or(j["usage"], "prompt_tokens");
      usage_.completion_tokens = int_or(j["usage"], "completion_tokens");
    }
    if (j.contains("choices") && j["choices"].is_array()) {
      for (const auto& c : j["choices"]) {
        if (c.is_object() && c.contains("finish_reason") && c["finish_reason"].is_string()) {
          finish_reason_ = c["finish_reason"].get<std::string>();
        }
      }
    }
    return;
  }
  const std::string type = j.value("type", "");
  if (type == "message_start" && j.contains("message") && j["message"].is_object() &&
      j["message"].contains("usage")) {
    usage_.prompt_tokens = int_or(j["message"]["usage"], "input_tokens");
  } else if (type == "message_delta") {
    if (j.contains("usage")) {
      usage_.completion_tokens = int_or(j["usage"], "output_tokens");
      if (int64_t in = int_or(j["usage"], "input_tokens")) usage_.prompt_tokens = in;
    }
    if (j.contains("delta") && j["delta"].is_object() && j["delta"].contains("stop_reason") &&
        j["delta"]["stop_reason"].is_string()) {
      finish_reason_ = j["delta"]["stop_reason"].get<std::string>();
    }
  }
}

int StreamRelay::on_event(SseEvent&& ev, std::vector<std::string>* out) {
  if (complete_) return 0;
  if (upstream_ == WireProtocol::kOpenAi && ev.data == "[DONE]") {
    complete_ = true;
    if (to_anthropic_) {
      for (auto& e : to_anthropic_->finish()) out->push_back(frame(e.event, api::dump_ojson(e.data)));
    } else {
      out->push_back(frame("", "[DONE]"));
    }
    return 0;
  }
  ojson j = ojson::parse(ev.data, nullptr, false);
  if (j.is_discarded()) return 0;  // not JSON: skipped (providers may send keep-alive payloads)
  note_usage(j);
  int n_content = 0;
  if (upstream_ == WireProtocol::kOpenAi) {
    if (j.contains("error")) {
      complete_ = true;
      finish_reason_ = "error";
    }
    if (j.contains("choices") && j["choices"].is_array()) {
      for (const auto& c : j["choices"]) {
        if (c.is_object() && c.contains("delta") && c["delta"].is_object() &&
            ((c["delta"].contains("content") && c["delta"]["content"].is_string() &&
              !c["delta"]["content"].get<std::string>().empty()) ||
             c["delta"].contains("tool_calls"))) {
          ++n_content;
        }
      }
    }
    if (to_anthropic_) {
      for (auto& e : to_anthropic_->on_chunk(j)) out->push_back(frame(e.event, api::dump_ojson(e.data)));
    } else {
      out->push_back(frame("", ev.data));
    }
    return n_content;
  }
  const std::string type = j.value("type", ev.event);
  if (type == "content_block_delta") ++n_content;
  if (type == "message_stop") complete_ = true;
  if (type == "error") {
    complete_ = true;
    finish_reason_ = "error";
  }
  if (to_openai_) {
    for (auto& c : to_openai_->on_event(j)) out->push_back(frame("", api::dump_ojson(c)));
    if (to_openai_->done() && type == "message_stop") out->push_back(frame("", "[DONE]"));
  } else {
    out->push_back(frame(ev.event.empty() ? type : ev.event, ev.data));
  }
  return n_content;
}

}  // namespace mlxm::cloud
