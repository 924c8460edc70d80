// Cloud providers: OpenAI, Anthropic, and OpenAI-compatible endpoints with a base URL (presets
// for Together, Groq, Fireworks, Mistral, DeepSeek, OpenRouter). A provider's key is either
// stored with it (the database's cloud_providers table, sealed) or read from an environment variable
// (OPENAI_API_KEY, ANTHROPIC_API_KEY, or the one named by api_key_env). Keys are only ever
// shown masked (provider_json) and never put into logs or error messages.
// Thread-safety: plain values and pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "api/schema/api_error.h"
#include "api/schema/openai_request.h"  // Parsed<T>

namespace mlxm::cloud {

enum class ProviderKind { kOpenAi, kAnthropic, kOpenAiCompatible };
const char* provider_kind_name(ProviderKind k);  // "openai", "anthropic", "openai_compatible"

// The wire protocol a provider speaks.
enum class WireProtocol { kOpenAi, kAnthropic };
WireProtocol provider_protocol(ProviderKind k);

struct ProviderConfig {
  std::string name;      // what rules name as a backend: [a-z0-9_-]{1,64}, not "local"
  ProviderKind kind = ProviderKind::kOpenAiCompatible;
  std::string preset;    // "together", "groq", ... ("" when none)
  std::string base_url;  // e.g. https://api.openai.com/v1 (no trailing '/')
  std::string api_key;   // stored key ("" when the key comes from api_key_env)
  std::string api_key_env;  // environment variable holding the key ("" = the kind's default)
  bool enabled = true;
};

struct ProviderPreset {
  const char* name;
  ProviderKind kind;
  const char* base_url;
  const char* key_env;
};
const std::vector<ProviderPreset>& provider_presets();  // openai, anthropic, together, groq, ...
const ProviderPreset* find_preset(const std::string& name);

// The key to use: the stored one, else the environment variable's value; "" when neither.
std::string resolve_api_key(const ProviderConfig& p);
// The environment variable a provider's key comes from when none is stored.
std::string key_env_name(const ProviderConfig& p);

// "sk-p****wxyz"-style: at most the first 4 and last 4 characters of long keys, "****" for
// short ones, "" for none.
std::string mask_key(const std::string& key);

// Validates a provider object from the API or the file. `previous` (an update) keeps its stored
// key when the body has no "api_key". Errors are 400s naming the field.
api::Parsed<ProviderConfig> parse_provider(const nlohmann::json& body,
                                           const ProviderConfig* previous = nullptr);

// For the API: no key, only {"has_key", "key_source", "api_key_masked"}.
nlohmann::json provider_json(const ProviderConfig& p);
// For storage (the database, or the legacy providers.json): with the stored key, which the
// cloud config seals before it is written.
nlohmann::json provider_file_json(const ProviderConfig& p);

// Rules name backends: "local" or a provider name.
inline constexpr const char* kLocalBackend = "local";
bool valid_backend_name(const std::string& name);

}  // namespace mlxm::cloud
