#include "store/settings_table.h"

#include "store/detail/connection.h"

namespace mlxm::store {

Result<std::optional<std::string>> SettingsTable::get(const std::string& key) {
  std::optional<std::string> out;
  MLXM_RETURN_IF_ERROR(detail::guarded("reading setting " + key, [&] {
    SQLite::Statement q(db_.connection().db, "SELECT value FROM settings WHERE key = ?");
    q.bind(1, key);
    if (q.executeStep()) out = q.getColumn(0).getString();
  }));
  return out;
}

Result<std::map<std::string, std::string>> SettingsTable::all() {
  std::map<std::string, std::string> out;
  MLXM_RETURN_IF_ERROR(detail::guarded("reading settings", [&] {
    SQLite::Statement q(db_.connection().db, "SELECT key, value FROM settings");
    while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getString();
  }));
  return out;
}

Status SettingsTable::put(const std::string& key, const std::string& value, int64_t now_ms) {
  return detail::guarded("writing setting " + key, [&] {
    SQLite::Statement q(db_.connection().db,
                        "INSERT INTO settings (key, value, updated_ms) VALUES (?, ?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                        "updated_ms = excluded.updated_ms");
    q.bind(1, key);
    q.bind(2, value);
    q.bind(3, static_cast<int64_t>(now_ms));
    q.exec();
  });
}

Result<bool> SettingsTable::remove(const std::string& key) {
  int n = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("deleting setting " + key, [&] {
    SQLite::Statement q(db_.connection().db, "DELETE FROM settings WHERE key = ?");
    q.bind(1, key);
    n = q.exec();
  }));
  return n > 0;
}

}  // namespace mlxm::store
