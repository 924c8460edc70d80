#include "api/schema/anthropic_translate.h"

#include <algorithm>

namespace mlxm::api {
namespace {

std::string idx(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

ApiError bad(const std::string& where, const std::string& message) {
  return ApiError::invalid(where, "'" + where + "' " + message);
}

const ojson* field(const ojson& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

bool is_str(const ojson* v) {
  return v && v->is_string();
}

// Lenient reads of upstream responses: a missing or mistyped field gives the default.
std::string str_or(const ojson& o, const char* key, std::string def = "") {
  const ojson* v = o.is_object() ? field(o, key) : nullptr;
  return is_str(v) ? v->get<std::string>() : def;
}
int64_t int_or(const ojson& o, const char* key) {
  const ojson* v = o.is_object() ? field(o, key) : nullptr;
  return v && v->is_number_integer() ? v->get<int64_t>() : 0;
}

// ---- Anthropic -> OpenAI ------------------------------------------------------------------

// An image block as an OpenAI image_url part.
Parsed<ojson> image_part(const ojson& block, const std::string& where, bool allow) {
  if (!allow) {
    return ApiError::invalid(where, "'" + where +
                                        "': image content blocks are not supported: this model "
                                        "takes text only");
  }
  const ojson* src = field(block, "source");
  if (!src || !src->is_object() || !is_str(field(*src, "type"))) {
    return bad(where + ".source", "must be an object with a 'type'");
  }
  const std::string type = (*src)["type"];
  std::string url;
  if (type == "base64" && is_str(field(*src, "media_type")) && is_str(field(*src, "data"))) {
    url = "data:" + (*src)["media_type"].get<std::string>() + ";base64," +
          (*src)["data"].get<std::string>();
  } else if (type == "url" && is_str(field(*src, "url"))) {
    url = (*src)["url"];
  } else {
    return bad(where + ".source", "must be {type: base64, media_type, data} or {type: url, url}");
  }
  return ojson{{"type", "image_url"}, {"image_url", {{"url", url}}}};
}

// Text parts -> a string for one text part, else the parts array.
ojson content_of(ojson parts) {
  if (parts.size() == 1 && parts[0]["type"] == "text") return parts[0]["text"];
  return parts;
}

Parsed<ojson> text_block(const ojson& block, const std::string& where) {
  if (!is_str(field(block, "text"))) return bad(where + ".text", "must be a string");
  return ojson{{"type", "text"}, {"text", block["text"]}};
}

// Content of a tool_result: a string, or text blocks joined.
Parsed<std::string> tool_result_text(const ojson& block, const std::string& where) {
  const ojson* c = field(block, "content");
  if (!c) return std::string();
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) return bad(where + ".content", "must be a string or an array of blocks");
  std::string text;
  for (size_t i = 0; i < c->size(); ++i) {
    const ojson& b = (*c)[i];
    const std::string w = idx(where + ".content", i);
    if (!b.is_object() || !is_str(field(b, "type"))) return bad(w, "must be a block with a 'type'");
    if (b["type"] != "text") {
      return ApiError::invalid(w, "'" + w + "': blocks of type '" + b["type"].get<std::string>() +
                                      "' are not supported inside tool_result (text only)");
    }
    if (!is_str(field(b, "text"))) return bad(w + ".text", "must be a string");
    if (!text.empty()) text += "\n";
    text += b["text"].get<std::string>();
  }
  return text;
}

// One Anthropic message -> one or more OpenAI messages appended to `out`.
std::optional<ApiError> convert_message(const ojson& m, size_t i,
                                        const AnthropicToOpenAiOptions& opt, ojson* out) {
  const std::string where = idx("messages", i);
  if (!m.is_object()) return bad(where, "must be an object");
  const ojson* role_v = field(m, "role");
  if (!is_str(role_v)) return bad(where + ".role", "must be a string");
  const std::string role = *role_v;
  if (role == "system") {
    return ApiError::invalid(where + ".role", "'" + where +
                                                  ".role': 'system' is not a message role here; "
                                                  "use the top-level 'system' parameter");
  }
  if (role != "user" && role != "assistant") {
    return ApiError::invalid(
        where + ".role", "'" + where + ".role' must be 'user' or 'assistant', got '" + role + "'");
  }
  const ojson* content = field(m, "content");
  if (!content) return bad(where + ".content", "is required");
  if (content->is_string()) {
    out->push_back({{"role", role}, {"content", *content}});
    return std::nullopt;
  }
  if (!content->is_array())
    return bad(where + ".content", "must be a string or an array of content blocks");
  ojson parts = ojson::array();
  ojson tool_calls = ojson::array();
  ojson tool_msgs = ojson::array();
  for (size_t j = 0; j < content->size(); ++j) {
    const ojson& b = (*content)[j];
    const std::string w = idx(where + ".content", j);
    if (!b.is_object() || !is_str(field(b, "type"))) return bad(w, "must be a block with a 'type'");
    const std::string type = b["type"];
    if (type == "text") {
      auto p = text_block(b, w);
      if (auto* e = std::get_if<ApiError>(&p)) return *e;
      parts.push_back(std::get<ojson>(std::move(p)));
    } else if (type == "image") {
      if (role != "user")
        return ApiError::invalid(w, "'" + w + "': image blocks are only allowed in user messages");
      auto p = image_part(b, w, opt.allow_images);
      if (auto* e = std::get_if<ApiError>(&p)) return *e;
      parts.push_back(std::get<ojson>(std::move(p)));
    } else if (type == "tool_use") {
      if (role != "assistant")
        return ApiError::invalid(
            w, "'" + w + "': tool_use blocks are only allowed in assistant messages");
      if (!is_str(field(b, "id"))) return bad(w + ".id", "must be a string");
      if (!is_str(field(b, "name"))) return bad(w + ".name", "must be a string");
      const ojson* input = field(b, "input");
      if (input && !input->is_object()) return bad(w + ".input", "must be an object");
      const ojson in = input ? *input : ojson::object();
      tool_calls.push_back({{"id", b["id"]},
                            {"type", "function"},
                            {"function", {{"name", b["name"]}, {"arguments", in.dump()}}}});
    } else if (type == "tool_result") {
      if (role != "user")
        return ApiError::invalid(
            w, "'" + w + "': tool_result blocks are only allowed in user messages");
      if (!is_str(field(b, "tool_use_id"))) return bad(w + ".tool_use_id", "must be a string");
      if (const ojson* e = field(b, "is_error"); e && !e->is_boolean()) {
        return bad(w + ".is_error", "must be a boolean");
      }
      auto text = tool_result_text(b, w);
      if (auto* e = std::get_if<ApiError>(&text)) return *e;
      tool_msgs.push_back({{"role", "tool"},
                           {"tool_call_id", b["tool_use_id"]},
                           {"content", std::get<std::string>(text)}});
    } else if (type == "thinking" || type == "redacted_thinking") {
      continue;  // earlier reasoning is not replayed into the prompt
    } else {
      return ApiError::invalid(
          w, "'" + w + "': content blocks of type '" + type + "' are not supported");
    }
  }
  for (auto& t : tool_msgs) out->push_back(std::move(t));
  if (role == "assistant") {
    ojson msg = {{"role", "assistant"}};
    msg["content"] = parts.empty() ? (tool_calls.empty() ? ojson("") : ojson(nullptr))
                                   : content_of(std::move(parts));
    if (!tool_calls.empty()) msg["tool_calls"] = std::move(tool_calls);
    out->push_back(std::move(msg));
  } else if (!parts.empty() || tool_msgs.empty()) {
    out->push_back(
        {{"role", "user"}, {"content", parts.empty() ? ojson("") : content_of(std::move(parts))}});
  }
  return std::nullopt;
}

Parsed<ojson> convert_system(const ojson& s) {
  if (s.is_string()) return s;
  if (!s.is_array()) return bad("system", "must be a string or an array of text blocks");
  ojson parts = ojson::array();
  for (size_t i = 0; i < s.size(); ++i) {
    const std::string w = idx("system", i);
    if (!s[i].is_object() || str_or(s[i], "type") != "text") {
      return bad(w, "must be a text block ({\"type\": \"text\", \"text\": ...})");
    }
    auto p = text_block(s[i], w);
    if (auto* e = std::get_if<ApiError>(&p)) return *e;
    parts.push_back(std::get<ojson>(std::move(p)));
  }
  if (parts.empty()) return ojson("");
  return content_of(std::move(parts));
}

Parsed<ojson> convert_tools(const ojson& tools) {
  if (!tools.is_array()) return bad("tools", "must be an array");
  ojson out = ojson::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& t = tools[i];
    const std::string w = idx("tools", i);
    if (!t.is_object()) return bad(w, "must be an object");
    if (const ojson* type = field(t, "type"); type && *type != "custom") {
      return ApiError::invalid(w + ".type",
                               "'" + w + ".type': server tools ('" +
                                   (type->is_string() ? type->get<std::string>() : type->dump()) +
                                   "') are not supported");
    }
    if (!is_str(field(t, "name"))) return bad(w + ".name", "must be a string");
    const ojson* schema = field(t, "input_schema");
    if (!schema || !schema->is_object()) return bad(w + ".input_schema", "must be an object");
    ojson fn = {{"name", t["name"]}};
    if (const ojson* d = field(t, "description")) {
      if (!d->is_string()) return bad(w + ".description", "must be a string");
      fn["description"] = *d;
    }
    fn["parameters"] = *schema;
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

// tool_choice -> (tool_choice, parallel_tool_calls or null).
std::optional<ApiError> convert_tool_choice(const ojson& tc, ojson* out) {
  if (!tc.is_object() || !is_str(field(tc, "type"))) {
    return bad("tool_choice", "must be an object with a 'type' (auto, any, tool, none)");
  }
  const std::string type = tc["type"];
  if (type == "auto") {
    (*out)["tool_choice"] = "auto";
  } else if (type == "any") {
    (*out)["tool_choice"] = "required";
  } else if (type == "none") {
    (*out)["tool_choice"] = "none";
  } else if (type == "tool") {
    if (!is_str(field(tc, "name"))) return bad("tool_choice.name", "must be a string");
    (*out)["tool_choice"] = {{"type", "function"}, {"function", {{"name", tc["name"]}}}};
  } else {
    return ApiError::invalid(
        "tool_choice.type",
        "'tool_choice.type' must be auto, any, tool or none, got '" + type + "'");
  }
  if (const ojson* d = field(tc, "disable_parallel_tool_use")) {
    if (!d->is_boolean()) return bad("tool_choice.disable_parallel_tool_use", "must be a boolean");
    (*out)["parallel_tool_calls"] = !d->get<bool>();
  }
  return std::nullopt;
}

// ---- OpenAI -> Anthropic ------------------------------------------------------------------

// OpenAI content (string / parts / null) -> Anthropic blocks.
Parsed<ojson> blocks_of(const ojson* content, const std::string& where) {
  ojson blocks = ojson::array();
  if (!content) return blocks;
  if (content->is_string()) {
    if (!content->get<std::string>().empty())
      blocks.push_back({{"type", "text"}, {"text", *content}});
    return blocks;
  }
  if (!content->is_array()) return bad(where, "must be a string or an array of content parts");
  for (size_t i = 0; i < content->size(); ++i) {
    const ojson& p = (*content)[i];
    const std::string w = idx(where, i);
    if (!p.is_object() || !is_str(field(p, "type"))) return bad(w, "must be a part with a 'type'");
    const std::string type = p["type"];
    if (type == "text") {
      if (!is_str(field(p, "text"))) return bad(w + ".text", "must be a string");
      blocks.push_back({{"type", "text"}, {"text", p["text"]}});
    } else if (type == "image_url") {
      const ojson* iu = field(p, "image_url");
      const ojson* url = iu && iu->is_object() ? field(*iu, "url") : nullptr;
      if (!is_str(url)) return bad(w + ".image_url.url", "must be a string");
      const std::string u = *url;
      const size_t comma = u.find(',');
      if (u.rfind("data:", 0) == 0 && comma != std::string::npos &&
          u.substr(0, comma).find(";base64") != std::string::npos) {
        const std::string media = u.substr(5, u.find(';') - 5);
        blocks.push_back(
            {{"type", "image"},
             {"source",
              {{"type", "base64"}, {"media_type", media}, {"data", u.substr(comma + 1)}}}});
      } else {
        blocks.push_back({{"type", "image"}, {"source", {{"type", "url"}, {"url", u}}}});
      }
    } else {
      return ApiError::invalid(
          w, "'" + w + "': content parts of type '" + type + "' are not supported");
    }
  }
  return blocks;
}

std::string text_of_blocks(const ojson& blocks) {
  std::string s;
  for (const auto& b : blocks) {
    if (b["type"] == "text") {
      if (!s.empty()) s += "\n";
      s += b["text"].get<std::string>();
    }
  }
  return s;
}

// Appends blocks to the last message when it has the same role, else a new message.
void append_blocks(ojson* messages, const std::string& role, ojson blocks) {
  if (!messages->empty() && messages->back()["role"] == role) {
    for (auto& b : blocks) messages->back()["content"].push_back(std::move(b));
  } else {
    messages->push_back({{"role", role}, {"content", std::move(blocks)}});
  }
}

}  // namespace

Parsed<ojson> anthropic_to_openai_chat(const ojson& body, const AnthropicToOpenAiOptions& opt) {
  if (!body.is_object()) return ApiError::invalid("", "the request body must be a JSON object");
  ojson out = ojson::object();
  if (const ojson* m = field(body, "model")) {
    if (!m->is_string()) return bad("model", "must be a string");
    out["model"] = *m;
  }
  ojson messages = ojson::array();
  if (const ojson* s = field(body, "system")) {
    auto sys = convert_system(*s);
    if (auto* e = std::get_if<ApiError>(&sys)) return *e;
    messages.push_back({{"role", "system"}, {"content", std::get<ojson>(std::move(sys))}});
  }
  const ojson* msgs = field(body, "messages");
  if (!msgs) return ApiError::invalid("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty()) return bad("messages", "must be a non-empty array");
  for (size_t i = 0; i < msgs->size(); ++i) {
    if (auto e = convert_message((*msgs)[i], i, opt, &messages)) return *e;
  }
  out["messages"] = std::move(messages);
  for (const char* key : {"max_tokens", "temperature", "top_p", "top_k"}) {
    if (const ojson* v = field(body, key)) out[key] = *v;
  }
  if (const ojson* s = field(body, "stop_sequences")) {
    if (!s->is_array()) return bad("stop_sequences", "must be an array of strings");
    for (const auto& x : *s) {
      if (!x.is_string()) return bad("stop_sequences", "must hold only strings");
    }
    out["stop"] = *s;
  }
  if (const ojson* s = field(body, "stream")) {
    if (!s->is_boolean()) return bad("stream", "must be a boolean");
    out["stream"] = *s;
    if (s->get<bool>()) out["stream_options"] = {{"include_usage", true}};
  }
  if (const ojson* t = field(body, "tools")) {
    auto tools = convert_tools(*t);
    if (auto* e = std::get_if<ApiError>(&tools)) return *e;
    if (!std::get<ojson>(tools).empty()) out["tools"] = std::get<ojson>(std::move(tools));
  }
  if (const ojson* tc = field(body, "tool_choice")) {
    if (auto e = convert_tool_choice(*tc, &out)) return *e;
  }
  if (const ojson* md = field(body, "metadata")) {
    if (!md->is_object()) return bad("metadata", "must be an object");
    if (const ojson* u = field(*md, "user_id")) {
      if (!u->is_string()) return bad("metadata.user_id", "must be a string");
      out["user"] = *u;
    }
  }
  return out;
}

Parsed<ojson> openai_chat_to_anthropic(const ojson& body, const OpenAiToAnthropicOptions& opt) {
  if (!body.is_object()) return ApiError::invalid("", "the request body must be a JSON object");
  ojson out = ojson::object();
  if (const ojson* m = field(body, "model")) {
    if (!m->is_string()) return bad("model", "must be a string");
    out["model"] = *m;
  }
  const ojson* mt = field(body, "max_completion_tokens");
  if (!mt) mt = field(body, "max_tokens");
  if (mt && !mt->is_number_integer()) return bad("max_tokens", "must be an integer");
  out["max_tokens"] = mt ? *mt : ojson(opt.default_max_tokens);
  if (const ojson* n = field(body, "n"); n && *n != 1) {
    return ApiError::invalid("n", "'n' other than 1 cannot be sent to an Anthropic backend");
  }
  const ojson* msgs = field(body, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty())
    return bad("messages", "must be a non-empty array");
  std::string system;
  ojson messages = ojson::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const ojson& m = (*msgs)[i];
    const std::string where = idx("messages", i);
    if (!m.is_object() || !is_str(field(m, "role")))
      return bad(where + ".role", "must be a string");
    const std::string role = m["role"];
    auto blocks_r = blocks_of(field(m, "content"), where + ".content");
    if (auto* e = std::get_if<ApiError>(&blocks_r)) return *e;
    ojson blocks = std::get<ojson>(std::move(blocks_r));
    if (role == "system" || role == "developer") {
      if (!system.empty()) system += "\n\n";
      system += text_of_blocks(blocks);
    } else if (role == "user") {
      append_blocks(&messages, "user", std::move(blocks));
    } else if (role == "tool") {
      if (!is_str(field(m, "tool_call_id")))
        return bad(where + ".tool_call_id", "must be a string");
      ojson result = {{"type", "tool_result"},
                      {"tool_use_id", m["tool_call_id"]},
                      {"content", text_of_blocks(blocks)}};
      append_blocks(&messages, "user", ojson::array({std::move(result)}));
    } else if (role == "assistant") {
      if (const ojson* tcs = field(m, "tool_calls")) {
        if (!tcs->is_array()) return bad(where + ".tool_calls", "must be an array");
        for (size_t j = 0; j < tcs->size(); ++j) {
          const ojson& tc = (*tcs)[j];
          const std::string w = idx(where + ".tool_calls", j);
          const ojson* fn = tc.is_object() ? field(tc, "function") : nullptr;
          if (!fn || !fn->is_object() || !is_str(field(*fn, "name"))) {
            return bad(w + ".function.name", "must be a string");
          }
          if (!is_str(field(tc, "id"))) return bad(w + ".id", "must be a string");
          ojson input = ojson::object();
          if (const ojson* a = field(*fn, "arguments")) {
            if (!a->is_string()) return bad(w + ".function.arguments", "must be a string");
            if (!a->get<std::string>().empty()) {
              input = ojson::parse(a->get<std::string>(), nullptr, false);
              if (input.is_discarded() || !input.is_object()) {
                return bad(w + ".function.arguments", "must be a JSON object encoded as a string");
              }
            }
          }
          blocks.push_back({{"type", "tool_use"},
                            {"id", tc["id"]},
                            {"name", (*fn)["name"]},
                            {"input", std::move(input)}});
        }
      }
      append_blocks(&messages, "assistant", std::move(blocks));
    } else {
      return ApiError::invalid(where + ".role", "unknown role '" + role + "'");
    }
  }
  if (!system.empty()) out["system"] = system;
  out["messages"] = std::move(messages);
  if (const ojson* t = field(body, "temperature")) {
    if (!t->is_number()) return bad("temperature", "must be a number");
    out["temperature"] = std::clamp(t->get<double>(), 0.0, 1.0);
  }
  for (const char* key : {"top_p", "top_k"}) {
    if (const ojson* v = field(body, key)) out[key] = *v;
  }
  if (const ojson* s = field(body, "stop")) {
    if (s->is_string()) {
      out["stop_sequences"] = ojson::array({*s});
    } else if (s->is_array()) {
      out["stop_sequences"] = *s;
    } else {
      return bad("stop", "must be a string or an array of strings");
    }
  }
  if (const ojson* s = field(body, "stream")) out["stream"] = *s;
  if (const ojson* tools = field(body, "tools")) {
    if (!tools->is_array()) return bad("tools", "must be an array");
    ojson at = ojson::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      const ojson& t = (*tools)[i];
      const ojson* fn = t.is_object() ? field(t, "function") : nullptr;
      if (!fn || !fn->is_object() || !is_str(field(*fn, "name"))) {
        return bad(idx("tools", i) + ".function.name", "must be a string");
      }
      ojson tool = {{"name", (*fn)["name"]}};
      if (const ojson* d = field(*fn, "description")) tool["description"] = *d;
      const ojson* params = field(*fn, "parameters");
      tool["input_schema"] =
          params ? *params : ojson{{"type", "object"}, {"properties", ojson::object()}};
      at.push_back(std::move(tool));
    }
    out["tools"] = std::move(at);
  }
  ojson choice;
  if (const ojson* tc = field(body, "tool_choice")) {
    if (tc->is_string()) {
      const std::string s = *tc;
      if (s == "auto")
        choice = {{"type", "auto"}};
      else if (s == "required")
        choice = {{"type", "any"}};
      else if (s == "none")
        choice = {{"type", "none"}};
      else
        return ApiError::invalid("tool_choice",
                                 "'tool_choice' must be auto, required, none or a function");
    } else if (tc->is_object() && field(*tc, "function") &&
               is_str(field((*tc)["function"], "name"))) {
      choice = {{"type", "tool"}, {"name", (*tc)["function"]["name"]}};
    } else {
      return ApiError::invalid("tool_choice",
                               "'tool_choice' must be auto, required, none or a function");
    }
  }
  if (const ojson* p = field(body, "parallel_tool_calls");
      p && p->is_boolean() && !p->get<bool>()) {
    if (choice.is_null()) choice = {{"type", "auto"}};
    if (choice["type"] != "none") choice["disable_parallel_tool_use"] = true;
  }
  if (!choice.is_null()) out["tool_choice"] = std::move(choice);
  if (const ojson* u = field(body, "user"); is_str(u)) out["metadata"] = {{"user_id", *u}};
  return out;
}

std::string openai_finish_to_anthropic_stop(const std::string& f) {
  if (f == "length") return "max_tokens";
  if (f == "tool_calls" || f == "function_call") return "tool_use";
  if (f == "content_filter") return "refusal";
  return "end_turn";
}

std::string anthropic_stop_to_openai_finish(const std::string& s) {
  if (s == "max_tokens" || s == "model_context_window_exceeded") return "length";
  if (s == "tool_use") return "tool_calls";
  if (s == "refusal") return "content_filter";
  return "stop";
}

Parsed<ojson> anthropic_message_to_openai_chat(const ojson& msg, int64_t created) {
  if (!msg.is_object() || !field(msg, "content") || !msg["content"].is_array()) {
    return ApiError{502, "server_error", "the upstream message has no content array", "", ""};
  }
  std::string text;
  bool has_text = false;
  ojson tool_calls = ojson::array();
  for (const auto& b : msg["content"]) {
    if (!b.is_object()) continue;
    const std::string type = str_or(b, "type");
    if (type == "text" && is_str(field(b, "text"))) {
      text += b["text"].get<std::string>();
      has_text = true;
    } else if (type == "tool_use") {
      const ojson input = field(b, "input") ? b["input"] : ojson::object();
      tool_calls.push_back(
          {{"id", str_or(b, "id")},
           {"type", "function"},
           {"function", {{"name", str_or(b, "name")}, {"arguments", input.dump()}}}});
    }
  }
  ojson message = {{"role", "assistant"},
                   {"content", has_text || tool_calls.empty() ? ojson(text) : ojson(nullptr)}};
  if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);
  const std::string stop =
      is_str(field(msg, "stop_reason")) ? msg["stop_reason"].get<std::string>() : "end_turn";
  ojson u = msg.contains("usage") && msg["usage"].is_object() ? msg["usage"] : ojson::object();
  const int64_t cached = int_or(u, "cache_read_input_tokens");
  const int64_t in = int_or(u, "input_tokens") + cached + int_or(u, "cache_creation_input_tokens");
  const int64_t out_toks = int_or(u, "output_tokens");
  return ojson{
      {"id", str_or(msg, "id")},
      {"object", "chat.completion"},
      {"created", created},
      {"model", str_or(msg, "model")},
      {"choices", ojson::array({{{"index", 0},
                                 {"message", std::move(message)},
                                 {"logprobs", nullptr},
                                 {"finish_reason", anthropic_stop_to_openai_finish(stop)}}})},
      {"usage",
       {{"prompt_tokens", in},
        {"completion_tokens", out_toks},
        {"total_tokens", in + out_toks},
        {"prompt_tokens_details", {{"cached_tokens", cached}}}}}};
}

Parsed<ojson> openai_chat_to_anthropic_message(const ojson& c) {
  if (!c.is_object() || !field(c, "choices") || !c["choices"].is_array() || c["choices"].empty() ||
      !c["choices"][0].is_object() || !field(c["choices"][0], "message")) {
    return ApiError{502, "server_error", "the upstream completion has no choices[0].message", "",
                    ""};
  }
  const ojson& choice = c["choices"][0];
  const ojson& m = choice["message"];
  ojson content = ojson::array();
  if (const ojson* t = field(m, "content"); is_str(t) && !t->get<std::string>().empty()) {
    content.push_back({{"type", "text"}, {"text", *t}});
  }
  if (const ojson* tcs = field(m, "tool_calls"); tcs && tcs->is_array()) {
    for (const auto& tc : *tcs) {
      if (!tc.is_object() || !field(tc, "function")) continue;
      const ojson& fn = tc["function"];
      ojson input = ojson::parse(str_or(fn, "arguments", "{}"), nullptr, false);
      if (input.is_discarded() || !input.is_object()) input = ojson::object();
      content.push_back({{"type", "tool_use"},
                         {"id", str_or(tc, "id")},
                         {"name", str_or(fn, "name")},
                         {"input", std::move(input)}});
    }
  }
  const std::string finish =
      is_str(field(choice, "finish_reason")) ? choice["finish_reason"].get<std::string>() : "stop";
  ojson u = c.contains("usage") && c["usage"].is_object() ? c["usage"] : ojson::object();
  return ojson{{"id", str_or(c, "id")},
               {"type", "message"},
               {"role", "assistant"},
               {"model", str_or(c, "model")},
               {"content", std::move(content)},
               {"stop_reason", openai_finish_to_anthropic_stop(finish)},
               {"stop_sequence", nullptr},
               {"usage",
                {{"input_tokens", int_or(u, "prompt_tokens")},
                 {"output_tokens", int_or(u, "completion_tokens")}}}};
}

}  // namespace mlxm::api
