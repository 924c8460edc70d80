#include "api/schema/openai_request.h"

#include <cmath>
#include <limits>

namespace mlxm::api {
namespace {

using nlohmann::json;

constexpr int kMaxN = 16;
constexpr size_t kMaxStops = 16;

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "number";
  }
}

// Reads body[key] when present and not null; the helpers return an error on a wrong type/range.
const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<ApiError> read_number(const json& body, const char* key, double lo, double hi,
                                    float* out) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) {
    return ApiError::invalid(key, std::string("'") + key + "' must be a number, got " +
                                      type_name(*v));
  }
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    return ApiError::invalid(key, std::string("'") + key + "' must be between " +
                                      json(lo).dump() + " and " + json(hi).dump() + ", got " +
                                      v->dump());
  }
  *out = static_cast<float>(d);
  return std::nullopt;
}

std::optional<ApiError> read_int(const json& body, const char* key, int64_t lo, int64_t hi,
                                 int64_t* out) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  bool integral = v->is_number_integer();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    integral = std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9e15;
  }
  if (!integral) {
    return ApiError::invalid(key, std::string("'") + key + "' must be an integer, got " +
                                      (v->is_number() ? v->dump() : type_name(*v)));
  }
  const int64_t i = v->is_number_float() ? static_cast<int64_t>(v->get<double>())
                                         : v->get<int64_t>();
  if (i < lo || i > hi) {
    return ApiError::invalid(key, std::string("'") + key + "' must be between " +
                                      std::to_string(lo) + " and " + std::to_string(hi) +
                                      ", got " + std::to_string(i));
  }
  *out = i;
  return std::nullopt;
}

std::optional<ApiError> read_bool(const json& body, const char* key, bool* out) {
  const json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    return ApiError::invalid(key, std::string("'") + key + "' must be a boolean, got " +
                                      type_name(*v));
  }
  *out = v->get<bool>();
  return std::nullopt;
}

#define MLXM_TRY_FIELD(expr)          \
  do {                                \
    if (auto _e = (expr)) return *_e; \
  } while (0)

std::optional<ApiError> parse_generation_fields(const json& body, bool legacy_logprobs,
                                                GenerationFields* g) {
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) return ApiError::invalid("model", "'model' must be a string");
    g->model = m->get<std::string>();
  }
  int64_t i = 0;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (field(body, key)) {
      MLXM_TRY_FIELD(read_int(body, key, 1, std::numeric_limits<int32_t>::max(), &i));
      g->max_tokens = static_cast<int32_t>(i);
    }
  }
  auto& s = g->sampling;
  MLXM_TRY_FIELD(read_number(body, "temperature", 0, 2, &s.temperature));
  MLXM_TRY_FIELD(read_number(body, "top_p", 0, 1, &s.top_p));
  if (field(body, "top_p") && s.top_p <= 0) {
    return ApiError::invalid("top_p", "'top_p' must be greater than 0 and at most 1");
  }
  if (field(body, "top_k")) {
    MLXM_TRY_FIELD(read_int(body, "top_k", -1, std::numeric_limits<int32_t>::max(), &i));
    s.top_k = static_cast<int>(i);
  }
  MLXM_TRY_FIELD(read_number(body, "min_p", 0, 1, &s.min_p));
  MLXM_TRY_FIELD(read_number(body, "presence_penalty", -2, 2, &s.presence_penalty));
  MLXM_TRY_FIELD(read_number(body, "frequency_penalty", -2, 2, &s.frequency_penalty));
  MLXM_TRY_FIELD(read_number(body, "repetition_penalty", 1e-6, 100, &s.repetition_penalty));
  if (field(body, "seed")) {
    MLXM_TRY_FIELD(read_int(body, "seed", std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max(), &i));
    s.seed = static_cast<uint64_t>(i);
  }
  if (field(body, "n")) {
    MLXM_TRY_FIELD(read_int(body, "n", 1, kMaxN, &i));
    g->n = static_cast<int>(i);
  }
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      g->stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > kMaxStops) {
        return ApiError::invalid("stop", "'stop' may hold at most " + std::to_string(kMaxStops) +
                                             " strings");
      }
      for (const auto& x : *stop) {
        if (!x.is_string()) return ApiError::invalid("stop", "'stop' must hold only strings");
        g->stop.push_back(x.get<std::string>());
      }
    } else {
      return ApiError::invalid("stop", "'stop' must be a string or an array of strings");
    }
  }
  if (const json* lb = field(body, "logit_bias")) {
    if (!lb->is_object()) return ApiError::invalid("logit_bias", "'logit_bias' must be an object");
    for (auto it = lb->begin(); it != lb->end(); ++it) {
      char* end = nullptr;
      const long id = std::strtol(it.key().c_str(), &end, 10);
      if (it.key().empty() || *end != '\0' || id < 0 || id > std::numeric_limits<int32_t>::max()) {
        return ApiError::invalid("logit_bias", "'logit_bias' keys must be token ids, got '" +
                                                   it.key() + "'");
      }
      if (!it.value().is_number() || std::fabs(it.value().get<double>()) > 100) {
        return ApiError::invalid("logit_bias",
                                 "'logit_bias' values must be numbers between -100 and 100");
      }
      s.logit_bias.emplace_back(static_cast<int32_t>(id), it.value().get<float>());
    }
  }
  if (legacy_logprobs) {  // /v1/completions: logprobs is an integer 0..5
    if (field(body, "logprobs")) {
      MLXM_TRY_FIELD(read_int(body, "logprobs", 0, 5, &i));
      s.logprobs = true;
      s.top_logprobs = static_cast<int>(i);
    }
  } else {
    MLXM_TRY_FIELD(read_bool(body, "logprobs", &s.logprobs));
    if (field(body, "top_logprobs")) {
      MLXM_TRY_FIELD(read_int(body, "top_logprobs", 0, engine::kMaxTopLogprobs, &i));
      if (!s.logprobs) {
        return ApiError::invalid("top_logprobs", "'top_logprobs' requires 'logprobs': true");
      }
      s.top_logprobs = static_cast<int>(i);
    }
  }
  MLXM_TRY_FIELD(read_bool(body, "stream", &g->stream));
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) {
      return ApiError::invalid("stream_options", "'stream_options' must be an object");
    }
    if (!g->stream) {
      return ApiError::invalid("stream_options",
                               "'stream_options' is only allowed when 'stream' is true");
    }
    MLXM_TRY_FIELD(read_bool(*so, "include_usage", &g->include_usage));
  }
  MLXM_TRY_FIELD(read_bool(body, "ignore_eos", &g->ignore_eos));
  if (const json* u = field(body, "user")) {
    if (!u->is_string()) return ApiError::invalid("user", "'user' must be a string");
    g->user = u->get<std::string>();
  }
  if (const json* gr = field(body, "grammar")) {
    if (!gr->is_string() || gr->get_ref<const std::string&>().empty()) {
      return ApiError::invalid("grammar", "'grammar' must be a non-empty string (GBNF)");
    }
    const json* rf = field(body, "response_format");
    if (rf && !(rf->is_object() && rf->value("type", json()) == json("text"))) {
      return ApiError::invalid("grammar",
                               "'grammar' and 'response_format' cannot be used together");
    }
    g->grammar = gr->get<std::string>();
  }
  return std::nullopt;
}

// Content as a string: a string, or an array of parts whose text parts are concatenated.
std::optional<ApiError> flatten_content(json& msg, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  auto it = msg.find("content");
  if (it == msg.end() || it->is_null()) {
    const bool may_be_empty = msg["role"] == "assistant" && msg.contains("tool_calls");
    if (!may_be_empty) return ApiError::invalid(where, "'" + where + "' is required");
    return std::nullopt;
  }
  if (it->is_string()) return std::nullopt;
  if (!it->is_array()) return ApiError::invalid(where, "'" + where + "' must be a string or an array of content parts");
  std::string text;
  for (const auto& part : *it) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return ApiError::invalid(where, "each content part needs a 'type'");
    }
    const std::string type = part["type"].get<std::string>();
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string()) {
        return ApiError::invalid(where, "a text content part needs a string 'text'");
      }
      text += part["text"].get<std::string>();
    } else if (type == "image_url" || type == "input_image" || type == "input_audio") {
      return ApiError::invalid(where, "content parts of type '" + type +
                                          "' are not supported: this model takes text only");
    } else {
      return ApiError::invalid(where, "unknown content part type '" + type + "'");
    }
  }
  *it = text;
  return std::nullopt;
}

}  // namespace

Parsed<ChatCompletionRequest> parse_chat_completion_request(const json& body) {
  if (!body.is_object()) return ApiError::invalid("", "the request body must be a JSON object");
  ChatCompletionRequest r;
  if (auto e = parse_generation_fields(body, /*legacy_logprobs=*/false, &r.gen)) return *e;
  const json* msgs = field(body, "messages");
  if (!msgs) return ApiError::invalid("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty()) {
    return ApiError::invalid("messages", "'messages' must be a non-empty array");
  }
  r.messages = *msgs;
  for (size_t i = 0; i < r.messages.size(); ++i) {
    json& m = r.messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return ApiError::invalid(where, "'" + where + "' must be an object");
    if (!m.contains("role") || !m["role"].is_string()) {
      return ApiError::invalid(where + ".role", "'" + where + ".role' must be a string");
    }
    const std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant" && role != "tool" &&
        role != "developer") {
      return ApiError::invalid(where + ".role", "unknown role '" + role + "'");
    }
    if (role == "developer") m["role"] = "system";
    if (auto e = flatten_content(m, i)) return *e;
  }
  if (const json* tools = field(body, "tools")) {
    if (!tools->is_array()) return ApiError::invalid("tools", "'tools' must be an array");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string w = "tools[" + std::to_string(i) + "]";
      const json* fn = t.is_object() ? field(t, "function") : nullptr;
      if (!fn || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string()) {
        return ApiError::invalid(w, "'" + w + "' must be {\"type\": \"function\", \"function\": "
                                    "{\"name\": ...}}");
      }
      if (fn->contains("parameters") && !(*fn)["parameters"].is_object()) {
        return ApiError::invalid(w + ".function.parameters",
                                 "'" + w + ".function.parameters' must be an object");
      }
    }
    r.tools = *tools;
  }
  if (const json* tc = field(body, "tool_choice")) {
    if (tc->is_string()) {
      const std::string v = tc->get<std::string>();
      if (v != "auto" && v != "none" && v != "required") {
        return ApiError::invalid("tool_choice", "tool_choice must be 'auto', 'none', 'required' or "
                                                "{\"type\": \"function\", \"function\": {\"name\": ...}}, got '" +
                                                    v + "'");
      }
    } else if (!tc->is_object() || !tc->contains("function") || !(*tc)["function"].is_object() ||
               !(*tc)["function"].contains("name") || !(*tc)["function"]["name"].is_string()) {
      return ApiError::invalid("tool_choice", "tool_choice must be 'auto', 'none', 'required' or "
                                              "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
    r.tool_choice = *tc;
    if (r.gen.grammar && (tc->is_object() || *tc == "required")) {
      return ApiError::invalid("grammar",
                               "'grammar' cannot be combined with a required or named tool_choice");
    }
  }
  if (auto e = read_bool(body, "parallel_tool_calls", &r.parallel_tool_calls)) return *e;
  if (const json* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object()) {
      return ApiError::invalid("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    }
    r.chat_template_kwargs = *kw;
  }
  if (auto e = read_bool(body, "add_generation_prompt", &r.add_generation_prompt)) return *e;
  if (const json* rf = field(body, "response_format")) {
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string()) {
      return ApiError::invalid("response_format", "'response_format' must be an object with a 'type'");
    }
    const std::string type = (*rf)["type"].get<std::string>();
    if (type != "text" && type != "json_object" && type != "json_schema") {
      return ApiError::invalid("response_format",
                               "response_format type must be 'text', 'json_object' or "
                               "'json_schema', got '" + type + "'");
    }
    if (type == "json_schema") {
      const json* js = field(*rf, "json_schema");
      if (!js || !js->is_object()) {
        return ApiError::invalid("response_format",
                                 "response_format of type 'json_schema' needs a 'json_schema' object");
      }
      if (js->contains("schema") && !(*js)["schema"].is_object() && !(*js)["schema"].is_boolean()) {
        return ApiError::invalid("response_format", "'json_schema.schema' must be an object");
      }
    }
    r.response_format = *rf;
  }
  return r;
}

Parsed<CompletionRequest> parse_completion_request(const json& body) {
  if (!body.is_object()) return ApiError::invalid("", "the request body must be a JSON object");
  CompletionRequest r;
  if (auto e = parse_generation_fields(body, /*legacy_logprobs=*/true, &r.gen)) return *e;
  const json* p = field(body, "prompt");
  if (!p) return ApiError::invalid("prompt", "'prompt' is required");
  auto ids_of = [](const json& arr, std::vector<int32_t>* out) {
    for (const auto& x : arr) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 ||
          x.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        return false;
      }
      out->push_back(x.get<int32_t>());
    }
    return true;
  };
  if (p->is_string()) {
    r.prompts.emplace_back(p->get<std::string>());
  } else if (p->is_array() && !p->empty()) {
    if ((*p)[0].is_number()) {
      std::vector<int32_t> ids;
      if (!ids_of(*p, &ids)) return ApiError::invalid("prompt", "'prompt' token ids must be non-negative integers");
      r.prompts.emplace_back(std::move(ids));
    } else {
      for (const auto& x : *p) {
        if (x.is_string()) {
          r.prompts.emplace_back(x.get<std::string>());
        } else if (x.is_array() && !x.empty()) {
          std::vector<int32_t> ids;
          if (!ids_of(x, &ids)) return ApiError::invalid("prompt", "'prompt' token ids must be non-negative integers");
          r.prompts.emplace_back(std::move(ids));
        } else {
          return ApiError::invalid("prompt", "'prompt' must be a string, an array of strings, or token ids");
        }
      }
    }
  } else {
    return ApiError::invalid("prompt", "'prompt' must be a non-empty string, array of strings, or token ids");
  }
  if (r.prompts.size() * static_cast<size_t>(r.gen.n) > 64) {
    return ApiError::invalid("prompt", "at most 64 completions per request (prompts × n)");
  }
  if (auto e = read_bool(body, "echo", &r.echo)) return *e;
  if (const json* sfx = field(body, "suffix")) {
    if (!sfx->is_string() || !sfx->get<std::string>().empty()) {
      return ApiError::invalid("suffix", "'suffix' is not supported");
    }
  }
  return r;
}

}  // namespace mlxm::api
