#include "store/cloud_tables.h"

#include "store/detail/connection.h"

namespace mlxm::store {

namespace {

std::vector<CloudRow> read_rows(SQLite::Database& db, const char* sql) {
  std::vector<CloudRow> out;
  SQLite::Statement q(db, sql);
  while (q.executeStep()) out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString()});
  return out;
}

void write_rows(SQLite::Database& db, const char* table, const char* key_column,
                const std::vector<CloudRow>& rows) {
  db.exec(std::string("DELETE FROM ") + table);
  SQLite::Statement q(db, std::string("INSERT INTO ") + table + " (position, " + key_column +
                              ", config) VALUES (?, ?, ?)");
  for (size_t i = 0; i < rows.size(); ++i) {
    q.bind(1, static_cast<int64_t>(i));
    q.bind(2, rows[i].key);
    q.bind(3, rows[i].config);
    q.exec();
    q.reset();
  }
}

}  // namespace

Result<CloudRows> CloudTables::load() {
  CloudRows out;
  MLXM_RETURN_IF_ERROR(detail::guarded("reading the cloud tables", [&] {
    SQLite::Database& db = db_.connection().db;
    out.providers = read_rows(db, "SELECT name, config FROM cloud_providers ORDER BY position");
    out.rules = read_rows(db, "SELECT id, config FROM routing_rules ORDER BY position");
  }));
  return out;
}

Status CloudTables::replace(const std::optional<std::vector<CloudRow>>& providers,
                            const std::optional<std::vector<CloudRow>>& rules) {
  return detail::guarded("writing the cloud tables", [&] {
    SQLite::Database& db = db_.connection().db;
    SQLite::Transaction tx(db);
    if (providers) write_rows(db, "cloud_providers", "name", *providers);
    if (rules) write_rows(db, "routing_rules", "id", *rules);
    tx.commit();
  });
}

}  // namespace mlxm::store
