// The cloud tables (migration 4): cloud_providers and routing_rules, one row per provider or
// rule in their order, each holding the entry's JSON text as the cloud module writes it
// (provider keys already sealed; this layer never sees a clear key). Both lists are replaced
// together in one transaction, so a reader never sees half an edit.
//
// Thread-safety: uses its Database from the calling thread; one thread at a time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/database.h"

namespace mlxm::store {

struct CloudRow {
  std::string key;     // provider name or rule id (unique in its table)
  std::string config;  // the entry's JSON text
};

struct CloudRows {
  std::vector<CloudRow> providers;  // in order
  std::vector<CloudRow> rules;      // in order (the rule order matters)
};

class CloudTables {
 public:
  explicit CloudTables(Database& db) : db_(db) {}
  Result<CloudRows> load();
  // Replaces the lists given (nullopt leaves that table as it is), in one transaction.
  // Errors: a repeated key, a database failure (nothing is changed then).
  Status replace(const std::optional<std::vector<CloudRow>>& providers,
                 const std::optional<std::vector<CloudRow>>& rules);

 private:
  Database& db_;
};

}  // namespace mlxm::store
