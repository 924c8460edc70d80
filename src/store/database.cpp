#include "store/database.h"

#include <sys/stat.h>

#include "core/env.h"
#include "core/log.h"
#include "store/detail/connection.h"
#include "store/migrations.h"

namespace mlxm::store {
namespace fs = std::filesystem;

Result<fs::path> manager_home() {
  fs::path home;
  if (auto v = env_get("MLX_MANAGER_HOME")) {
    home = *v;
  } else if (auto h = env_get("HOME")) {
    home = fs::path(*h) / ".mlx-manager";
  } else {
    return invalid_argument("MLX_MANAGER_HOME is not set and neither is HOME");
  }
  std::error_code ec;
  if (!fs::exists(home, ec)) {
    fs::create_directories(home, ec);
    if (ec) return invalid_argument("MLX_MANAGER_HOME: cannot create " + home.string() + ": " + ec.message());
    ::chmod(home.c_str(), 0700);
  } else if (!fs::is_directory(home, ec)) {
    return invalid_argument("MLX_MANAGER_HOME: " + home.string() + " is not a directory");
  }
  return home;
}

namespace {

Status migrate(detail::Connection& c, const fs::path& path) {
  SQLite::Database& db = c.db;
  return detail::guarded("migrating " + path.string(), [&] {
    db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
    const auto& all = migrations();
    const int latest = all.empty() ? 0 : all.back().version;
    for (const Migration& m : all) {
      // BEGIN IMMEDIATE takes the write lock first, so two processes never apply one twice.
      db.exec("BEGIN IMMEDIATE");
      try {
        SQLite::Statement q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
        q.executeStep();
        const int current = q.getColumn(0).getInt();
        if (current > latest) {
          throw std::runtime_error("the database schema (version " + std::to_string(current) +
                                   ") is newer than this build (version " +
                                   std::to_string(latest) + "); upgrade mlx-manager");
        }
        if (m.version > current) {
          db.exec(m.sql);
          SQLite::Statement ins(db,
                                "INSERT INTO schema_migrations (version, name, applied_at_ms) "
                                "VALUES (?, ?, CAST(strftime('%s','now') AS INTEGER) * 1000)");
          ins.bind(1, m.version);
          ins.bind(2, m.name);
          ins.exec();
          db.exec("PRAGMA user_version = " + std::to_string(m.version));
          MLXM_LOG_INFO("store: applied migration {} ({})", m.version, m.name);
        }
        db.exec("COMMIT");
      } catch (...) {
        db.exec("ROLLBACK");
        throw;
      }
    }
  });
}

}  // namespace

Database::Database(fs::path path, std::unique_ptr<detail::Connection> conn)
    : path_(std::move(path)), conn_(std::move(conn)) {}

Database::~Database() = default;

Result<std::unique_ptr<Database>> Database::open(const fs::path& path, DatabaseOptions options) {
  std::error_code ec;
  if (!options.read_only && path.has_parent_path() && !fs::exists(path.parent_path(), ec)) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) return invalid_argument("cannot create " + path.parent_path().string() + ": " + ec.message());
  }
  std::unique_ptr<detail::Connection> conn;
  Status st = detail::guarded("opening " + path.string(), [&] {
    const int flags = options.read_only ? SQLite::OPEN_READONLY
                                        : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    conn = std::make_unique<detail::Connection>(path.string(), flags,
                                                static_cast<int>(options.busy_timeout.count()));
    SQLite::Database& db = conn->db;
    if (!options.read_only) {
      db.exec("PRAGMA auto_vacuum = INCREMENTAL");  // only takes effect on a new database
      std::string mode = db.execAndGet("PRAGMA journal_mode = WAL").getString();
      if (mode != "wal") throw std::runtime_error("cannot switch to WAL mode (got '" + mode + "')");
    }
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
  });
  if (!st.ok()) return st;
  if (!options.read_only) MLXM_RETURN_IF_ERROR(migrate(*conn, path));
  return std::unique_ptr<Database>(new Database(path, std::move(conn)));
}

Result<int> Database::schema_version() {
  int v = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("reading the schema version", [&] {
    v = conn_->db.execAndGet("PRAGMA user_version").getInt();
  }));
  return v;
}

Status Database::check_integrity() {
  std::string report;
  MLXM_RETURN_IF_ERROR(detail::guarded("integrity check", [&] {
    SQLite::Statement q(conn_->db, "PRAGMA integrity_check");
    while (q.executeStep()) report += q.getColumn(0).getString() + "\n";
  }));
  if (report != "ok\n") return data_loss("integrity check of " + path_.string() + " failed: " + report);
  return ok_status();
}

Result<int64_t> Database::used_bytes() {
  int64_t bytes = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("measuring the database", [&] {
    const int64_t pages = conn_->db.execAndGet("PRAGMA page_count").getInt64();
    const int64_t free_pages = conn_->db.execAndGet("PRAGMA freelist_count").getInt64();
    const int64_t page_size = conn_->db.execAndGet("PRAGMA page_size").getInt64();
    bytes = (pages - free_pages) * page_size;
  }));
  return bytes;
}

Status Database::incremental_vacuum() {
  return detail::guarded("incremental vacuum", [&] { conn_->db.exec("PRAGMA incremental_vacuum"); });
}

}  // namespace mlxm::store
