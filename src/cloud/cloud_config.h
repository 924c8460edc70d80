// The cloud configuration of a running server: providers (with keys, sealed at rest when a
// cipher is set) and routing rules, persisted through a CloudStorage (serve: the database;
// default: the files under $MLX_MANAGER_HOME), plus one circuit breaker per provider and the
// shared HTTP client. Edits validate, persist atomically, then swap an immutable snapshot, so
// readers (every chat request) never wait on a write. Providers "openai" and "anthropic" exist
// implicitly when OPENAI_API_KEY / ANTHROPIC_API_KEY are set and no stored provider has that
// name.
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
#include "cloud/cloud_storage.h"
#include "cloud/http_client.h"
#include "cloud/provider.h"
#include "cloud/resilience.h"
#include "cloud/rules.h"
#include "core/status.h"

namespace mlxm::cloud {

// Encrypts provider keys at rest (serve wires it to auth::SecretBox). Without one, keys are
// stored in clear (the file is still 0600).
struct KeyCipher {
  std::function<std::string(std::string_view)> seal;
  std::function<Result<std::string>(std::string_view)> open;
};

struct CloudOptions {
  std::filesystem::path home;  // $MLX_MANAGER_HOME
  HttpClientConfig http;
  RetryPolicy retry;
  BreakerPolicy breaker;
  std::optional<KeyCipher> cipher;  // keys stored as "api_key_sealed"
  // Where providers and rules persist; null: FileCloudStorage(home).
  std::shared_ptr<CloudStorage> storage;
};

// An edit's outcome: the error to send (400 naming the field, 404, 409) or success.
using EditResult = std::optional<api::ApiError>;

class CloudConfig {
 public:
  // Loads providers and rules from the storage (nothing stored = empty). Errors name the file
  // or table: unreadable, not JSON, a providers file readable by others, an invalid entry.
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

  // Writes every stored provider (keys sealed) and rule to `to` (the one-time import).
  Status copy_to(CloudStorage& to);

  CircuitBreaker& breaker(const std::string& provider);
  HttpClient& client() { return *client_; }
  const CloudOptions& options() const { return options_; }

 private:
  explicit CloudConfig(CloudOptions options);
  // REQUIRES: edit_mu_ held. Persists the changed list(s), then publishes the new snapshot.
  EditResult commit_locked(std::vector<ProviderConfig> file_providers, std::vector<Rule> rules,
                           bool providers_changed, bool rules_changed);
  bool known_locked(const std::string& name) const;
  // The stored form of providers (keys sealed when a cipher is set) and rules.
  std::vector<nlohmann::json> provider_entries(const std::vector<ProviderConfig>& providers) const;
  static std::vector<nlohmann::json> rule_entries(const std::vector<Rule>& rules);

  CloudOptions options_;
  std::unique_ptr<HttpClient> client_;
  std::mutex edit_mu_;                       // serializes edits and storage writes
  std::vector<ProviderConfig> file_providers_;  // stored providers; guarded by edit_mu_
  std::vector<Rule> rules_;                     // guarded by edit_mu_
  mutable std::mutex snap_mu_;
  std::shared_ptr<const Snapshot> snap_;
  std::mutex breaker_mu_;
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;
};

}  // namespace mlxm::cloud
