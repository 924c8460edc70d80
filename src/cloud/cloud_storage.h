// Where the cloud configuration persists: providers (keys already sealed by CloudConfig when it
// has a cipher) and routing rules, as the JSON entries CloudConfig reads and writes. Two
// implementations: the database (serve: tables cloud_providers and routing_rules, through
// store::CloudTables, so no SQLite here) and the legacy files under $MLX_MANAGER_HOME
// (providers.json 0600, routing_rules.json), still read once to import them into the database
// (import_cloud_files) and used by unit tests.
//
// Thread-compatible: CloudConfig serializes calls (its edit lock).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxm::store {
class Database;
}

namespace mlxm::cloud {

struct CloudEntries {
  std::vector<nlohmann::json> providers;  // in order
  std::vector<nlohmann::json> rules;      // in order
};

class CloudStorage {
 public:
  virtual ~CloudStorage() = default;
  // Names the place, for error messages ("/home/x/providers.json", "database table ...").
  virtual std::string providers_source() const = 0;
  virtual std::string rules_source() const = 0;
  // Both lists (empty when nothing is stored).
  virtual Result<CloudEntries> load() = 0;
  // Replaces the lists given (null leaves that one unchanged).
  virtual Status save(const std::vector<nlohmann::json>* providers,
                      const std::vector<nlohmann::json>* rules) = 0;
};

inline constexpr const char* kProvidersFile = "providers.json";
inline constexpr const char* kRulesFile = "routing_rules.json";

// $home/providers.json ({"providers": [...]}, 0600, refused when readable by others) and
// $home/routing_rules.json ({"rules": [...]}); missing files are empty; writes are atomic.
class FileCloudStorage : public CloudStorage {
 public:
  explicit FileCloudStorage(std::filesystem::path home) : home_(std::move(home)) {}
  std::string providers_source() const override { return (home_ / kProvidersFile).string(); }
  std::string rules_source() const override { return (home_ / kRulesFile).string(); }
  Result<CloudEntries> load() override;
  Status save(const std::vector<nlohmann::json>* providers,
              const std::vector<nlohmann::json>* rules) override;

 private:
  std::filesystem::path home_;
};

// Tables cloud_providers and routing_rules of the database (migration 4); both lists change in
// one transaction. Owns its connection (Database is used by one thread at a time).
class DatabaseCloudStorage : public CloudStorage {
 public:
  explicit DatabaseCloudStorage(std::unique_ptr<store::Database> db);
  ~DatabaseCloudStorage() override;
  // Opens (and migrates) the database at `path`.
  static Result<std::shared_ptr<DatabaseCloudStorage>> open(const std::filesystem::path& path);
  std::string providers_source() const override;
  std::string rules_source() const override;
  Result<CloudEntries> load() override;
  Status save(const std::vector<nlohmann::json>* providers,
              const std::vector<nlohmann::json>* rules) override;

 private:
  std::unique_ptr<store::Database> db_;
};

}  // namespace mlxm::cloud
