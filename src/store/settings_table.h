// The settings table (migration 3): key -> value text (the API layer stores JSON there), with the
// time of the last change. Settings changed through /api/settings/* live here so that they
// survive a restart.
//
// Thread-safety: uses its Database from the calling thread; one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/status.h"
#include "store/database.h"

namespace mlxm::store {

class SettingsTable {
 public:
  explicit SettingsTable(Database& db) : db_(db) {}
  Result<std::optional<std::string>> get(const std::string& key);
  Result<std::map<std::string, std::string>> all();
  // Inserts or replaces.
  Status put(const std::string& key, const std::string& value, int64_t now_ms);
  Result<bool> remove(const std::string& key);

 private:
  Database& db_;
};

}  // namespace mlxm::store
