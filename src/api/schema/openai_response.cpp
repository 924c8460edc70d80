#include "api/schema/openai_response.h"

#include <random>

namespace mlxm::api {

using nlohmann::json;

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string make_completion_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id = std::string(prefix) + "-";
  for (int i = 0; i < 24; ++i) id += kHex[rng() & 15];
  return id;
}

json usage_json(const Usage& u) {
  return json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

namespace {

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

json logprob_value(float lp) {
  return std::isfinite(lp) ? json(lp) : json(-9999.0);
}

json chat_choices(const std::vector<ChoiceResult>& choices) {
  json arr = json::array();
  for (const auto& c : choices) {
    const bool calls = c.tool_calls.is_array() && !c.tool_calls.empty();
    json message = {{"role", "assistant"},
                    {"content", calls && c.text.empty() ? json(nullptr) : json(c.text)}};
    if (!c.reasoning.empty()) message["reasoning_content"] = c.reasoning;
    if (calls) message["tool_calls"] = c.tool_calls;
    arr.push_back({{"index", c.index},
                   {"message", std::move(message)},
                   {"logprobs", c.logprobs ? chat_logprobs_json(*c.logprobs) : json(nullptr)},
                   {"finish_reason", c.finish_reason}});
  }
  return arr;
}

}  // namespace

json chat_logprobs_json(const std::vector<TokenLogprobEntry>& entries) {
  json content = json::array();
  for (const auto& e : entries) {
    json top = json::array();
    for (const auto& t : e.top) {
      top.push_back({{"token", t.token}, {"logprob", logprob_value(t.logprob)},
                     {"bytes", bytes_of(t.token)}});
    }
    content.push_back({{"token", e.token}, {"logprob", logprob_value(e.logprob)},
                       {"bytes", bytes_of(e.token)}, {"top_logprobs", top}});
  }
  return json{{"content", content}};
}

json completion_logprobs_json(const std::vector<TokenLogprobEntry>& entries,
                              size_t text_offset_start) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  size_t off = text_offset_start;
  for (const auto& e : entries) {
    tokens.push_back(e.token);
    lps.push_back(logprob_value(e.logprob));
    json top = json::object();
    for (const auto& t : e.top) top[t.token] = logprob_value(t.logprob);
    tops.push_back(e.top.empty() ? json(nullptr) : top);
    offs.push_back(off);
    off += e.token.size();
  }
  return json{{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops},
              {"text_offset", offs}};
}

std::string chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                 const std::vector<ChoiceResult>& choices, const Usage& usage) {
  json j = {{"id", id},
            {"object", "chat.completion"},
            {"created", created},
            {"model", model},
            {"choices", chat_choices(choices)},
            {"usage", usage_json(usage)}};
  return dump_json(j);
}

std::string text_completion_json(const std::string& id, int64_t created, const std::string& model,
                                 const std::vector<ChoiceResult>& choices, const Usage& usage) {
  json arr = json::array();
  for (const auto& c : choices) {
    arr.push_back({{"index", c.index},
                   {"text", c.text},
                   {"logprobs", c.logprobs ? completion_logprobs_json(*c.logprobs, c.logprobs_text_offset) : json(nullptr)},
                   {"finish_reason", c.finish_reason}});
  }
  json j = {{"id", id},          {"object", "text_completion"}, {"created", created},
            {"model", model},    {"choices", arr},              {"usage", usage_json(usage)}};
  return dump_json(j);
}

std::string chat_chunk_json(const std::string& id, int64_t created, const std::string& model,
                            int index, const json& delta, const std::string& finish_reason,
                            const json& logprobs, bool with_null_usage) {
  json j = {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", model},
            {"choices",
             json::array({{{"index", index},
                           {"delta", delta},
                           {"logprobs", logprobs},
                           {"finish_reason", finish_reason.empty() ? json(nullptr)
                                                                   : json(finish_reason)}}})}};
  if (with_null_usage) j["usage"] = nullptr;
  return dump_json(j);
}

std::string chat_usage_chunk_json(const std::string& id, int64_t created, const std::string& model,
                                  const Usage& usage) {
  json j = {{"id", id},       {"object", "chat.completion.chunk"}, {"created", created},
            {"model", model}, {"choices", json::array()},          {"usage", usage_json(usage)}};
  return dump_json(j);
}

std::string completion_chunk_json(const std::string& id, int64_t created, const std::string& model,
                                  int index, const std::string& text,
                                  const std::string& finish_reason, const json& logprobs,
                                  bool with_null_usage) {
  json j = {{"id", id},
            {"object", "text_completion"},
            {"created", created},
            {"model", model},
            {"choices",
             json::array({{{"index", index},
                           {"text", text},
                           {"logprobs", logprobs},
                           {"finish_reason", finish_reason.empty() ? json(nullptr)
                                                                   : json(finish_reason)}}})}};
  if (with_null_usage) j["usage"] = nullptr;
  return dump_json(j);
}

std::string completion_usage_chunk_json(const std::string& id, int64_t created,
                                        const std::string& model, const Usage& usage) {
  json j = {{"id", id},       {"object", "text_completion"}, {"created", created},
            {"model", model}, {"choices", json::array()},    {"usage", usage_json(usage)}};
  return dump_json(j);
}

}  // namespace mlxm::api
