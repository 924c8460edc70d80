#include "cloud/cloud_storage.h"

#include "cloud/config_file.h"
#include "store/cloud_tables.h"
#include "store/database.h"

namespace mlxm::cloud {

using nlohmann::json;

namespace {

Result<std::vector<json>> file_array(const std::filesystem::path& path, const char* field,
                                     bool require_private) {
  MLXM_ASSIGN_OR_RETURN(auto doc, read_json_file(path, require_private));
  std::vector<json> out;
  if (!doc) return out;
  const json& arr = (*doc)[field];
  if (!arr.is_array()) {
    return invalid_argument(path.string() + ": '" + field + "' must be an array");
  }
  for (const auto& e : arr) out.push_back(e);
  return out;
}

std::string json_array_text(const char* field, const std::vector<json>& entries) {
  json arr = json::array();
  for (const auto& e : entries) arr.push_back(e);
  return json{{field, arr}}.dump(2) + "\n";
}

Result<std::vector<json>> parse_rows(const std::string& source, const std::vector<store::CloudRow>& rows) {
  std::vector<json> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto j = json::parse(rows[i].config, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return data_loss(source + ": row " + std::to_string(i) + " ('" + rows[i].key +
                       "') is not a JSON object");
    }
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<store::CloudRow> to_rows(const std::vector<json>& entries, const char* key_field) {
  std::vector<store::CloudRow> out;
  for (const auto& e : entries) {
    const auto k = e.find(key_field);
    out.push_back({k != e.end() && k->is_string() ? k->get<std::string>() : "", e.dump()});
  }
  return out;
}

}  // namespace

Result<CloudEntries> FileCloudStorage::load() {
  CloudEntries out;
  MLXM_ASSIGN_OR_RETURN(out.providers, file_array(home_ / kProvidersFile, "providers", true));
  MLXM_ASSIGN_OR_RETURN(out.rules, file_array(home_ / kRulesFile, "rules", false));
  return out;
}

Status FileCloudStorage::save(const std::vector<json>* providers, const std::vector<json>* rules) {
  if (providers) {
    MLXM_RETURN_IF_ERROR(
        write_file_atomic(home_ / kProvidersFile, json_array_text("providers", *providers)));
  }
  if (rules) {
    MLXM_RETURN_IF_ERROR(write_file_atomic(home_ / kRulesFile, json_array_text("rules", *rules)));
  }
  return ok_status();
}

DatabaseCloudStorage::DatabaseCloudStorage(std::unique_ptr<store::Database> db) : db_(std::move(db)) {}
DatabaseCloudStorage::~DatabaseCloudStorage() = default;

Result<std::shared_ptr<DatabaseCloudStorage>> DatabaseCloudStorage::open(const std::filesystem::path& path) {
  MLXM_ASSIGN_OR_RETURN(auto db, store::Database::open(path));
  return std::make_shared<DatabaseCloudStorage>(std::move(db));
}

std::string DatabaseCloudStorage::providers_source() const {
  return db_->path().string() + " table cloud_providers";
}

std::string DatabaseCloudStorage::rules_source() const {
  return db_->path().string() + " table routing_rules";
}

Result<CloudEntries> DatabaseCloudStorage::load() {
  store::CloudTables tables(*db_);
  MLXM_ASSIGN_OR_RETURN(store::CloudRows rows, tables.load());
  CloudEntries out;
  MLXM_ASSIGN_OR_RETURN(out.providers, parse_rows(providers_source(), rows.providers));
  MLXM_ASSIGN_OR_RETURN(out.rules, parse_rows(rules_source(), rows.rules));
  return out;
}

Status DatabaseCloudStorage::save(const std::vector<json>* providers, const std::vector<json>* rules) {
  std::optional<std::vector<store::CloudRow>> p, r;
  if (providers) p = to_rows(*providers, "name");
  if (rules) r = to_rows(*rules, "id");
  store::CloudTables tables(*db_);
  return tables.replace(p, r);
}

}  // namespace mlxm::cloud
