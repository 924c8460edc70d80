#include "bench/protocol.h"

#include <nlohmann/json.hpp>

namespace mlxm::bench {

using nlohmann::json;

Result<Api> parse_api(const std::string& name) {
  if (name == "openai" || name == "openai-chat" || name == "chat") return Api::kOpenAiChat;
  if (name == "openai-completions" || name == "completions") return Api::kOpenAiCompletions;
  if (name == "anthropic") return Api::kAnthropic;
  return invalid_argument("--api: unknown API '" + name +
                          "' (expected openai, openai-completions or anthropic)");
}

const char* api_name(Api api) {
  switch (api) {
    case Api::kOpenAiChat: return "openai-chat";
    case Api::kOpenAiCompletions: return "openai-completions";
    case Api::kAnthropic: return "anthropic";
  }
  return "?";
}

const char* api_path(Api api) {
  switch (api) {
    case Api::kOpenAiChat: return "/v1/chat/completions";
    case Api::kOpenAiCompletions: return "/v1/completions";
    case Api::kAnthropic: return "/v1/messages";
  }
  return "/";
}

std::string request_body(Api api, const RequestSpec& s) {
  json b = {{"model", s.model}, {"max_tokens", s.max_tokens}, {"stream", s.stream}};
  if (s.temperature) b["temperature"] = *s.temperature;
  switch (api) {
    case Api::kOpenAiChat:
      b["messages"] = json::array({{{"role", "user"}, {"content", s.prompt}}});
      break;
    case Api::kOpenAiCompletions: b["prompt"] = s.prompt; break;
    case Api::kAnthropic:
      b["messages"] = json::array({{{"role", "user"}, {"content", s.prompt}}});
      break;
  }
  if (s.top_logprobs && api == Api::kOpenAiChat) {
    b["logprobs"] = true;
    b["top_logprobs"] = *s.top_logprobs;
  } else if (s.top_logprobs && api == Api::kOpenAiCompletions) {
    b["logprobs"] = *s.top_logprobs;
  }
  if (s.json_output && api != Api::kAnthropic) b["response_format"] = {{"type", "json_object"}};
  if (s.frequency_penalty && api != Api::kAnthropic) b["frequency_penalty"] = *s.frequency_penalty;
  if (api != Api::kAnthropic) {
    if (s.stream) b["stream_options"] = {{"include_usage", true}};
    if (s.ignore_eos) b["ignore_eos"] = true;
  }
  return b.dump();
}

Headers request_headers(Api api, const std::string& api_key) {
  Headers h = {{"Content-Type", "application/json"}};
  if (api == Api::kAnthropic) {
    h.emplace_back("anthropic-version", "2023-06-01");
    if (!api_key.empty()) h.emplace_back("x-api-key", api_key);
  } else if (!api_key.empty()) {
    h.emplace_back("Authorization", "Bearer " + api_key);
  }
  return h;
}

namespace {

std::optional<int64_t> int_field(const json& o, const char* key) {
  if (o.is_object() && o.contains(key) && o[key].is_number_integer()) return o[key].get<int64_t>();
  return std::nullopt;
}

std::string error_message(const json& e) {
  if (e.is_string()) return e.get<std::string>();
  if (e.is_object()) {
    std::string msg = e.value("message", std::string());
    std::string type = e.value("type", std::string());
    if (!type.empty() && !msg.empty()) return type + ": " + msg;
    if (!msg.empty()) return msg;
    if (!type.empty()) return type;
  }
  return e.dump();
}

bool non_empty_string(const json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string() &&
         !o[key].get<std::string>().empty();
}

void read_openai_usage(const json& j, ReplyInfo* r) {
  if (j.contains("usage") && j["usage"].is_object()) {
    r->prompt_tokens = int_field(j["usage"], "prompt_tokens");
    r->completion_tokens = int_field(j["usage"], "completion_tokens");
  }
}

ReplyInfo read_openai_chunk(const json& j) {
  ReplyInfo r;
  if (j.contains("error")) {
    r.error = error_message(j["error"]);
    return r;
  }
  if (j.contains("choices") && j["choices"].is_array()) {
    for (const json& c : j["choices"]) {
      if (non_empty_string(c, "text")) r.content = true;  // completions
      if (c.contains("delta") && c["delta"].is_object()) {
        const json& d = c["delta"];
        if (non_empty_string(d, "content") || non_empty_string(d, "reasoning_content") ||
            (d.contains("tool_calls") && d["tool_calls"].is_array() && !d["tool_calls"].empty())) {
          r.content = true;
        }
      }
    }
  }
  read_openai_usage(j, &r);
  return r;
}

ReplyInfo read_anthropic_event(const std::string& type, const json& j) {
  ReplyInfo r;
  if (type == "error" || j.value("type", std::string()) == "error") {
    r.error = error_message(j.contains("error") ? j["error"] : j);
    return r;
  }
  if (type == "message_start" && j.contains("message")) {
    const json& usage = j["message"].value("usage", json::object());
    r.prompt_tokens = int_field(usage, "input_tokens");
  } else if (type == "content_block_delta" && j.contains("delta")) {
    const json& d = j["delta"];
    r.content = non_empty_string(d, "text") || non_empty_string(d, "partial_json") ||
                non_empty_string(d, "thinking");
  } else if (type == "message_delta" && j.contains("usage")) {
    r.completion_tokens = int_field(j["usage"], "output_tokens");
    if (auto in = int_field(j["usage"], "input_tokens")) r.prompt_tokens = in;
  } else if (type == "message_stop") {
    r.end = true;
  }
  return r;
}

}  // namespace

ReplyInfo read_stream_event(Api api, const SseEvent& ev) {
  ReplyInfo r;
  if (api != Api::kAnthropic && ev.data == "[DONE]") {
    r.end = true;
    return r;
  }
  json j = json::parse(ev.data, nullptr, false);
  if (j.is_discarded()) {
    r.error = "malformed stream event: " + ev.data.substr(0, 200);
    return r;
  }
  if (api == Api::kAnthropic) {
    std::string type = ev.event.empty() ? j.value("type", std::string()) : ev.event;
    return read_anthropic_event(type, j);
  }
  return read_openai_chunk(j);
}

ReplyInfo read_body(Api api, const std::string& body) {
  ReplyInfo r;
  r.end = true;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    r.error = "response is not a JSON object: " + body.substr(0, 200);
    return r;
  }
  if (j.contains("error") && !j["error"].is_null()) {
    r.error = error_message(j["error"]);
    return r;
  }
  if (api == Api::kAnthropic) {
    const json usage = j.value("usage", json::object());
    r.prompt_tokens = int_field(usage, "input_tokens");
    r.completion_tokens = int_field(usage, "output_tokens");
    r.content = j.contains("content") && j["content"].is_array() && !j["content"].empty();
  } else {
    read_openai_usage(j, &r);
    r.content = j.contains("choices") && j["choices"].is_array() && !j["choices"].empty();
  }
  return r;
}

std::string http_error_reason(long status, const std::string& body) {
  std::string reason = "HTTP " + std::to_string(status);
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error")) {
    return reason + ": " + error_message(j["error"]);
  }
  if (!body.empty()) {
    std::string b = body.substr(0, 200);
    while (!b.empty() && (b.back() == '\n' || b.back() == '\r')) b.pop_back();
    return reason + ": " + b;
  }
  return reason;
}

}  // namespace mlxm::bench
