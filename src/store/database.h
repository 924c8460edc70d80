// The SQLite database at $MLX_MANAGER_HOME/mlx-manager.db: one connection, opened in WAL mode
// with a busy timeout and synchronous=NORMAL (a committed transaction survives a process crash;
// a power loss may lose the last ones, never corrupts), foreign keys on, and the schema brought
// up to date by versioned migrations (migrations.h) in one transaction each.
//
// Thread-safety: a Database (and the tables using it) is used by one thread at a time. Open one
// per thread that needs it: WAL lets one writer and many readers work at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "core/status.h"

namespace mlxm::store {

namespace detail {
struct Connection;  // wraps SQLite::Database (store/detail/connection.h)
}

// $MLX_MANAGER_HOME, else ~/.mlx-manager (created with mode 0700 when missing).
Result<std::filesystem::path> manager_home();
inline constexpr const char* kDatabaseFileName = "mlx-manager.db";

struct DatabaseOptions {
  std::chrono::milliseconds busy_timeout{5000};
  bool read_only = false;  // readers: no migrations (they expect a writer to have run them)
};

class Database {
 public:
  // Opens (creating when missing, unless read_only) and migrates. Errors: cannot create or open
  // the file, it is not a database, a migration failed, or the schema is newer than this build.
  static Result<std::unique_ptr<Database>> open(const std::filesystem::path& path,
                                                DatabaseOptions options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The applied schema version (the highest migration).
  Result<int> schema_version();
  // "PRAGMA integrity_check": ok, or DataLoss with SQLite's report.
  Status check_integrity();
  // Bytes in use: (page_count - freelist_count) * page_size.
  Result<int64_t> used_bytes();
  // Returns free pages to the file system (auto_vacuum=incremental).
  Status incremental_vacuum();

  detail::Connection& connection() { return *conn_; }

 private:
  Database(std::filesystem::path path, std::unique_ptr<detail::Connection> conn);
  std::filesystem::path path_;
  std::unique_ptr<detail::Connection> conn_;
};

}  // namespace mlxm::store
