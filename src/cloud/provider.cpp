#include "cloud/provider.h"

#include "core/env.h"

namespace mlxm::cloud {

using nlohmann::json;

namespace {

api::ApiError bad(const std::string& field, const std::string& message) {
  return api::ApiError::invalid(field, message);
}

bool valid_url(const std::string& u) {
  if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) return false;
  const size_t host = u.find("://") + 3;
  if (host >= u.size() || u[host] == '/') return false;
  for (char c : u) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '"' || c == '<' || c == '>') return false;
  }
  return true;
}

std::optional<ProviderKind> parse_kind(const std::string& s) {
  if (s == "openai") return ProviderKind::kOpenAi;
  if (s == "anthropic") return ProviderKind::kAnthropic;
  if (s == "openai_compatible") return ProviderKind::kOpenAiCompatible;
  return std::nullopt;
}

// Reads an optional string field; false (and *err) when it is present but not a string.
bool opt_string(const json& b, const char* key, std::string* out, api::ApiError* err) {
  if (!b.contains(key) || b[key].is_null()) return true;
  if (!b[key].is_string()) {
    *err = bad(key, std::string("'") + key + "' must be a string");
    return false;
  }
  *out = b[key].get<std::string>();
  return true;
}

}  // namespace

const char* provider_kind_name(ProviderKind k) {
  switch (k) {
    case ProviderKind::kOpenAi: return "openai";
    case ProviderKind::kAnthropic: return "anthropic";
    case ProviderKind::kOpenAiCompatible: return "openai_compatible";
  }
  return "openai_compatible";
}

WireProtocol provider_protocol(ProviderKind k) {
  return k == ProviderKind::kAnthropic ? WireProtocol::kAnthropic : WireProtocol::kOpenAi;
}

const std::vector<ProviderPreset>& provider_presets() {
  static const std::vector<ProviderPreset> kPresets = {
      {"openai", ProviderKind::kOpenAi, "https://api.openai.com/v1", "OPENAI_API_KEY"},
      {"anthropic", ProviderKind::kAnthropic, "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY"},
      {"together", ProviderKind::kOpenAiCompatible, "https://api.together.xyz/v1", "TOGETHER_API_KEY"},
      {"groq", ProviderKind::kOpenAiCompatible, "https://api.groq.com/openai/v1", "GROQ_API_KEY"},
      {"fireworks", ProviderKind::kOpenAiCompatible, "https://api.fireworks.ai/inference/v1",
       "FIREWORKS_API_KEY"},
      {"mistral", ProviderKind::kOpenAiCompatible, "https://api.mistral.ai/v1", "MISTRAL_API_KEY"},
      {"deepseek", ProviderKind::kOpenAiCompatible, "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"},
      {"openrouter", ProviderKind::kOpenAiCompatible, "https://openrouter.ai/api/v1",
       "OPENROUTER_API_KEY"},
  };
  return kPresets;
}

const ProviderPreset* find_preset(const std::string& name) {
  for (const auto& p : provider_presets()) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

std::string key_env_name(const ProviderConfig& p) {
  if (!p.api_key_env.empty()) return p.api_key_env;
  if (const ProviderPreset* pre = find_preset(p.preset)) return pre->key_env;
  if (p.kind == ProviderKind::kOpenAi) return "OPENAI_API_KEY";
  if (p.kind == ProviderKind::kAnthropic) return "ANTHROPIC_API_KEY";
  return "";
}

std::string resolve_api_key(const ProviderConfig& p) {
  if (!p.api_key.empty()) return p.api_key;
  const std::string env = key_env_name(p);
  if (env.empty()) return "";
  return env_get(env.c_str()).value_or("");
}

std::string mask_key(const std::string& key) {
  if (key.empty()) return "";
  if (key.size() < 16) return "****";
  return key.substr(0, 4) + "****" + key.substr(key.size() - 4);
}

bool valid_backend_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                    c == '.';
    if (!ok) return false;
  }
  return true;
}

api::Parsed<ProviderConfig> parse_provider(const json& b, const ProviderConfig* previous) {
  if (!b.is_object()) return bad("", "a provider must be a JSON object");
  for (auto it = b.begin(); it != b.end(); ++it) {
    static const char* kKnown[] = {"name", "kind", "preset", "base_url", "api_key", "api_key_env",
                                   "enabled", "has_key", "key_source", "api_key_masked"};
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known) return bad(it.key(), "unknown field '" + it.key() + "'");
  }
  ProviderConfig p;
  if (previous) p = *previous;
  api::ApiError err;
  std::string kind = previous ? provider_kind_name(previous->kind) : "";
  if (!opt_string(b, "name", &p.name, &err) || !opt_string(b, "kind", &kind, &err) ||
      !opt_string(b, "preset", &p.preset, &err) || !opt_string(b, "base_url", &p.base_url, &err) ||
      !opt_string(b, "api_key_env", &p.api_key_env, &err)) {
    return err;
  }
  if (b.contains("api_key") && !b["api_key"].is_null()) {
    if (!b["api_key"].is_string()) return bad("api_key", "'api_key' must be a string");
    p.api_key = b["api_key"].get<std::string>();
    for (char c : p.api_key) {
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
        return bad("api_key", "'api_key' must be printable ASCII without spaces");
      }
    }
  }
  if (b.contains("enabled")) {
    if (!b["enabled"].is_boolean()) return bad("enabled", "'enabled' must be true or false");
    p.enabled = b["enabled"].get<bool>();
  }
  if (p.name.empty()) return bad("name", "'name' is required");
  if (!valid_backend_name(p.name) || p.name == kLocalBackend) {
    return bad("name", "'name' must be 1-64 characters of a-z, 0-9, '_', '-', '.' and not 'local'");
  }
  const ProviderPreset* preset = nullptr;
  if (!p.preset.empty()) {
    preset = find_preset(p.preset);
    if (!preset) return bad("preset", "unknown preset '" + p.preset + "'");
  }
  if (kind.empty() && preset) kind = provider_kind_name(preset->kind);
  if (kind.empty()) return bad("kind", "'kind' (openai, anthropic, openai_compatible) or 'preset' is required");
  auto k = parse_kind(kind);
  if (!k) return bad("kind", "'kind' must be openai, anthropic or openai_compatible");
  p.kind = *k;
  if (p.base_url.empty() && preset) p.base_url = preset->base_url;
  if (p.base_url.empty() && p.kind != ProviderKind::kOpenAiCompatible) {
    p.base_url = find_preset(provider_kind_name(p.kind))->base_url;
  }
  if (p.base_url.empty()) return bad("base_url", "'base_url' is required for openai_compatible providers");
  while (!p.base_url.empty() && p.base_url.back() == '/') p.base_url.pop_back();
  if (!valid_url(p.base_url)) return bad("base_url", "'base_url' must be an http:// or https:// URL");
  for (char c : p.api_key_env) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return bad("api_key_env", "'api_key_env' must be an environment variable name");
  }
  return p;
}

json provider_json(const ProviderConfig& p) {
  const std::string key = resolve_api_key(p);
  json j = {{"name", p.name},
            {"kind", provider_kind_name(p.kind)},
            {"preset", p.preset.empty() ? json(nullptr) : json(p.preset)},
            {"base_url", p.base_url},
            {"enabled", p.enabled},
            {"has_key", !key.empty()},
            {"key_source", !p.api_key.empty() ? json("stored")
                           : key.empty()      ? json(nullptr)
                                              : json("env:" + key_env_name(p))},
            {"api_key_masked", mask_key(key)}};
  if (!p.api_key_env.empty()) j["api_key_env"] = p.api_key_env;
  return j;
}

json provider_file_json(const ProviderConfig& p) {
  json j = {{"name", p.name}, {"kind", provider_kind_name(p.kind)}, {"base_url", p.base_url},
            {"enabled", p.enabled}};
  if (!p.preset.empty()) j["preset"] = p.preset;
  if (!p.api_key.empty()) j["api_key"] = p.api_key;
  if (!p.api_key_env.empty()) j["api_key_env"] = p.api_key_env;
  return j;
}

}  // namespace mlxm::cloud
