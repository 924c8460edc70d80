#include "api/schema/anthropic_request.h"

#include <cmath>
#include <limits>

#include "api/schema/anthropic_translate.h"

namespace mlxm::api {
namespace {

constexpr size_t kMaxStopSequences = 16;

const ojson* field(const ojson& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<ApiError> read_number(const ojson& body, const char* key, double lo, double hi,
                                    float* out) {
  const ojson* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < lo ||
      v->get<double>() > hi) {
    return ApiError::invalid(key, std::string("'") + key + "' must be a number between " +
                                      ojson(lo).dump() + " and " + ojson(hi).dump() + ", got " +
                                      v->dump());
  }
  *out = static_cast<float>(v->get<double>());
  return std::nullopt;
}

std::optional<ApiError> read_int(const ojson& body, const char* key, int64_t lo, int64_t hi,
                                 int64_t* out) {
  const ojson* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer() || v->get<int64_t>() < lo || v->get<int64_t>() > hi ||
      (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi))) {
    return ApiError::invalid(key, std::string("'") + key + "' must be an integer between " +
                                      std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                                      v->dump());
  }
  *out = v->get<int64_t>();
  return std::nullopt;
}

#define MLXM_TRY_FIELD(expr)          \
  do {                                \
    if (auto _e = (expr)) return *_e; \
  } while (0)

}  // namespace

Parsed<AnthropicRequest> parse_anthropic_request(const ojson& body, AnthropicEndpoint endpoint) {
  if (!body.is_object()) return ApiError::invalid("", "the request body must be a JSON object");
  AnthropicRequest r;
  if (const ojson* m = field(body, "model")) {
    if (!m->is_string()) return ApiError::invalid("model", "'model' must be a string");
    r.model = m->get<std::string>();
  }
  int64_t i = 0;
  if (endpoint == AnthropicEndpoint::kMessages) {
    if (!field(body, "max_tokens")) {
      return ApiError::invalid("max_tokens", "max_tokens: Field required");
    }
    MLXM_TRY_FIELD(read_int(body, "max_tokens", 1, std::numeric_limits<int32_t>::max(), &i));
    r.max_tokens = static_cast<int32_t>(i);
  }
  auto& s = r.sampling;
  MLXM_TRY_FIELD(read_number(body, "temperature", 0, 1, &s.temperature));
  MLXM_TRY_FIELD(read_number(body, "top_p", 0, 1, &s.top_p));
  if (field(body, "top_p") && s.top_p <= 0) {
    return ApiError::invalid("top_p", "'top_p' must be greater than 0 and at most 1");
  }
  if (field(body, "top_k")) {
    MLXM_TRY_FIELD(read_int(body, "top_k", 0, std::numeric_limits<int32_t>::max(), &i));
    s.top_k = static_cast<int>(i);
  }
  if (const ojson* st = field(body, "stop_sequences")) {
    if (!st->is_array()) {
      return ApiError::invalid("stop_sequences", "'stop_sequences' must be an array of strings");
    }
    if (st->size() > kMaxStopSequences) {
      return ApiError::invalid(
          "stop_sequences",
          "'stop_sequences' may hold at most " + std::to_string(kMaxStopSequences) + " strings");
    }
    for (const auto& x : *st) {
      if (!x.is_string() || x.get<std::string>().empty()) {
        return ApiError::invalid("stop_sequences",
                                 "'stop_sequences' must hold only non-empty strings");
      }
      r.stop_sequences.push_back(x.get<std::string>());
    }
  }
  if (const ojson* st = field(body, "stream")) {
    if (!st->is_boolean()) return ApiError::invalid("stream", "'stream' must be a boolean");
    r.stream = st->get<bool>() && endpoint == AnthropicEndpoint::kMessages;
  }
  if (const ojson* md = field(body, "metadata")) {
    if (!md->is_object()) return ApiError::invalid("metadata", "'metadata' must be an object");
    if (const ojson* u = field(*md, "user_id")) {
      if (!u->is_string()) {
        return ApiError::invalid("metadata.user_id", "'metadata.user_id' must be a string");
      }
      r.user_id = u->get<std::string>();
    }
  }
  if (const ojson* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object()) {
      return ApiError::invalid("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    }
    r.chat_template_kwargs = *kw;
  }
  if (const ojson* th = field(body, "thinking")) {
    const ojson* type = th->is_object() ? field(*th, "type") : nullptr;
    if (!type || !type->is_string() ||
        (type->get<std::string>() != "enabled" && type->get<std::string>() != "disabled")) {
      return ApiError::invalid("thinking.type", "'thinking.type' must be 'enabled' or 'disabled'");
    }
    r.thinking = type->get<std::string>() == "enabled";
  }
  // system, messages, content blocks, tools and tool_choice are validated by the translation.
  auto openai = anthropic_to_openai_chat(body, AnthropicToOpenAiOptions{.allow_images = false});
  if (auto* e = std::get_if<ApiError>(&openai)) return *e;
  r.openai = std::get<ojson>(std::move(openai));
  const ojson& msgs = body["messages"];
  r.continues_assistant = msgs.back()["role"] == "assistant";
  return r;
}

std::string anthropic_error_type(const ApiError& e) {
  switch (e.http_status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 408:
    case 504: return "timeout_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    default: return e.http_status < 500 ? "invalid_request_error" : "api_error";
  }
}

std::string anthropic_error_body(const ApiError& e) {
  ojson j = {{"type", "error"},
             {"error", {{"type", anthropic_error_type(e)}, {"message", e.message}}}};
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

}  // namespace mlxm::api
