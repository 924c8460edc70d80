// The cloud configuration of a running server: providers (providers.json, 0600, with keys)
// and routing rules (routing_rules.json), both under $MLX_MANAGER_HOME, plus one circuit
// breaker per provider and the shared HTTP client. Edits validate, persist atomically, then
// swap an immutable snapshot, so readers (every chat request) never wait on a file write.
// Providers "openai" and "anthropic" exist implicitly when OPENAI_API_KEY / ANTHROPIC_API_KEY
// are set and the file defines no provider of that name.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/schema/api_error.h"
#include "cloud/http_client.h"
#include "cloud/provider.h"
#include "cloud/resilience.h"
#include "cloud/rules.h"
#include "core/status.h"

namespace mlxm::cloud {

// Encrypts provider keys at rest (serve wires it to auth::SecretBox). Without one, keys are
// written in clear (the file is still 0600).
struct KeyCipher {
  std::function<std::string(std::string_view)> seal;
  std::function<Result<std::string>(std::string_view)> open;
};

struct CloudOptions {
  std::filesystem::path home;  // $MLX_MANAGER_HOME
  HttpClientConfig http;
  RetryPolicy retry;
  BreakerPolicy breaker;
  std::optional<KeyCipher> cipher;  // keys in providers.json as "api_key_sealed"
};

inline constexpr const char* kProvidersFile = "providers.json";
inline constexpr const char* kRulesFile = "routing_rules.json";

// An edit's outcome: the error to send (400 naming the field, 404, 409) or success.
using EditResult = std::optional<api::ApiError>;

class CloudConfig {
 public:
  // Loads both files (missing files = empty). Errors name the file: unreadable, not JSON,
  // a providers file readable by others, an invalid entry.
  static Result<std::shared_ptr<CloudConfig>> open(CloudOptions options);

  struct Snapshot {
    std::vector<ProviderConfig> providers;  // file providers, then implicit env ones
    std::shared_ptr<const RuleSet> rules;
  };
  std::shared_ptr<const Snapshot> snapshot() const;
  std::optional<ProviderConfig> provider(const std::string& name) const;
  Resolution resolve(const std::string& model) const { return snapshot()->rules->resolve(model); }

  // Rules. `position` < 0 or past the end appends.
  api::Parsed<Rule> add_rule(const nlohmann::json& body, int position = -1);
  api::Parsed<Rule> update_rule(const std::string& id, const nlohmann::json& body);
  EditResult delete_rule(const std::string& id);
  EditResult reorder_rules(const std::vector<std::string>& ids);

  // Providers (names unique; deleting one that a rule uses is a 409 naming the rules).
  api::Parsed<ProviderConfig> add_provider(const nlohmann::json& body);
  api::Parsed<ProviderConfig> update_provider(const std::string& name, const nlohmann::json& body);
  EditResult delete_provider(const std::string& name);

  CircuitBreaker& breaker(const std::string& provider);
  HttpClient& client() { return *client_; }
  const CloudOptions& options() const { return options_; }

 private:
  explicit CloudConfig(CloudOptions options);
  // REQUIRES: edit_mu_ held. Writes the file(s), then publishes the new snapshot.
  EditResult commit_locked(std::vector<ProviderConfig> file_providers, std::vector<Rule> rules,
                           bool providers_changed, bool rules_changed);
  bool known_locked(const std::string& name) const;
  // Writes providers.json (0600, atomically), keys sealed when a cipher is set.
  Status write_providers(const std::vector<ProviderConfig>& providers) const;

  CloudOptions options_;
  std::unique_ptr<HttpClient> client_;
  std::mutex edit_mu_;                       // serializes edits and file writes
  std::vector<ProviderConfig> file_providers_;  // guarded by edit_mu_
  std::vector<Rule> rules_;                     // guarded by edit_mu_
  mutable std::mutex snap_mu_;
  std::shared_ptr<const Snapshot> snap_;
  std::mutex breaker_mu_;
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;
};

}  // namespace mlxm::cloud
