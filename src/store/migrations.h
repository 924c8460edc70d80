// Versioned schema migrations. Each has a version (1, 2, ... with no gaps), a name and SQL run
// in one transaction; the applied ones are listed in table schema_migrations and the current
// version is mirrored in PRAGMA user_version. To change the schema, append a migration; never
// edit one that shipped. 1: audit_log; 2: users, sessions, api_keys (auth_tables.h); 3: settings
// (settings_table.h); 4: cloud_providers, routing_rules (cloud_tables.h).
#pragma once

#include <string>
#include <vector>

namespace mlxm::store {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// Every migration, in order.
const std::vector<Migration>& migrations();

}  // namespace mlxm::store
