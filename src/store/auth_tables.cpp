#include "store/auth_tables.h"

#include "store/detail/connection.h"

namespace mlxm::store {
namespace {

std::optional<int64_t> opt_int(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}

UserRow user_from(SQLite::Statement& q) {
  UserRow r;
  r.id = q.getColumn(0).getInt64();
  r.username = q.getColumn(1).getString();
  r.password_hash = q.getColumn(2).getString();
  r.is_admin = q.getColumn(3).getInt() != 0;
  r.status = q.getColumn(4).getString();
  r.created_ms = q.getColumn(5).getInt64();
  r.last_login_ms = opt_int(q.getColumn(6));
  return r;
}

constexpr const char* kUserColumns =
    "SELECT id, username, password_hash, is_admin, status, created_ms, last_login_ms FROM users ";

bool is_unique_violation(const SQLite::Exception& e) {
  return e.getExtendedErrorCode() == SQLITE_CONSTRAINT_UNIQUE ||
         e.getExtendedErrorCode() == SQLITE_CONSTRAINT_PRIMARYKEY;
}

// Inserts `row` (id assigned) on an open transaction or not.
void insert_user(SQLite::Database& db, UserRow* row) {
  SQLite::Statement ins(db,
                        "INSERT INTO users (username, password_hash, is_admin, status, created_ms, "
                        "last_login_ms) VALUES (?, ?, ?, ?, ?, ?)");
  ins.bind(1, row->username);
  ins.bind(2, row->password_hash);
  ins.bind(3, row->is_admin ? 1 : 0);
  ins.bind(4, row->status);
  ins.bind(5, static_cast<int64_t>(row->created_ms));
  if (row->last_login_ms) {
    ins.bind(6, static_cast<int64_t>(*row->last_login_ms));
  } else {
    ins.bind(6);
  }
  ins.exec();
  row->id = db.getLastInsertRowid();
}

Result<UserRow> insert_user_guarded(Database& dbw, UserRow row, bool first_as_admin) {
  SQLite::Database& db = dbw.connection().db;
  try {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    if (first_as_admin && db.execAndGet("SELECT COUNT(*) FROM users").getInt64() == 0) {
      row.is_admin = true;
      row.status = "active";
    }
    insert_user(db, &row);
    tx.commit();
    return row;
  } catch (const SQLite::Exception& e) {
    if (is_unique_violation(e)) {
      return Status(StatusCode::kAlreadyExists, "the username '" + row.username + "' is taken");
    }
    Status st = detail::guarded("adding a user", [&] { throw; });
    return st;
  }
}

}  // namespace

Result<UserRow> UserTable::insert(UserRow row) {
  return insert_user_guarded(db_, std::move(row), false);
}

Result<UserRow> UserTable::insert_first_as_admin(UserRow row) {
  return insert_user_guarded(db_, std::move(row), true);
}

Result<std::optional<UserRow>> UserTable::find_by_name(const std::string& username) {
  std::optional<UserRow> out;
  MLXM_RETURN_IF_ERROR(detail::guarded("reading a user", [&] {
    SQLite::Statement q(db_.connection().db, std::string(kUserColumns) + "WHERE username = ?");
    q.bind(1, username);
    if (q.executeStep()) out = user_from(q);
  }));
  return out;
}

Result<std::optional<UserRow>> UserTable::find_by_id(int64_t id) {
  std::optional<UserRow> out;
  MLXM_RETURN_IF_ERROR(detail::guarded("reading a user", [&] {
    SQLite::Statement q(db_.connection().db, std::string(kUserColumns) + "WHERE id = ?");
    q.bind(1, static_cast<int64_t>(id));
    if (q.executeStep()) out = user_from(q);
  }));
  return out;
}

Result<std::vector<UserRow>> UserTable::list() {
  std::vector<UserRow> out;
  MLXM_RETURN_IF_ERROR(detail::guarded("listing users", [&] {
    SQLite::Statement q(db_.connection().db, std::string(kUserColumns) + "ORDER BY id");
    while (q.executeStep()) out.push_back(user_from(q));
  }));
  return out;
}

Result<int64_t> UserTable::count() {
  int64_t n = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("counting users", [&] {
    n = db_.connection().db.execAndGet("SELECT COUNT(*) FROM users").getInt64();
  }));
  return n;
}

Result<int64_t> UserTable::count_active_admins() {
  int64_t n = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("counting admins", [&] {
    n = db_.connection()
            .db.execAndGet("SELECT COUNT(*) FROM users WHERE is_admin = 1 AND status = 'active'")
            .getInt64();
  }));
  return n;
}

Status UserTable::set_status(int64_t id, const std::string& status) {
  return detail::guarded("updating a user", [&] {
    SQLite::Statement q(db_.connection().db, "UPDATE users SET status = ? WHERE id = ?");
    q.bind(1, status);
    q.bind(2, static_cast<int64_t>(id));
    q.exec();
  });
}

Status UserTable::set_last_login(int64_t id, int64_t t_ms) {
  return detail::guarded("updating a user", [&] {
    SQLite::Statement q(db_.connection().db, "UPDATE users SET last_login_ms = ? WHERE id = ?");
    q.bind(1, static_cast<int64_t>(t_ms));
    q.bind(2, static_cast<int64_t>(id));
    q.exec();
  });
}

Result<bool> UserTable::remove(int64_t id) {
  int n = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("deleting a user", [&] {
    SQLite::Statement q(db_.connection().db, "DELETE FROM users WHERE id = ?");
    q.bind(1, static_cast<int64_t>(id));
    n = q.exec();
  }));
  return n > 0;
}

Status SessionTable::insert(const SessionRow& row) {
  return detail::guarded("adding a session", [&] {
    SQLite::Statement q(db_.connection().db,
                        "INSERT INTO sessions (token_hash, user_id, created_ms, expires_ms) "
                        "VALUES (?, ?, ?, ?)");
    q.bind(1, row.token_hash);
    q.bind(2, static_cast<int64_t>(row.user_id));
    q.bind(3, static_cast<int64_t>(row.created_ms));
    q.bind(4, static_cast<int64_t>(row.expires_ms));
    q.exec();
  });
}

Result<std::optional<SessionRow>> SessionTable::find(const std::string& token_hash) {
  std::optional<SessionRow> out;
  MLXM_RETURN_IF_ERROR(detail::guarded("reading a session", [&] {
    SQLite::Statement q(db_.connection().db,
                        "SELECT token_hash, user_id, created_ms, expires_ms FROM sessions "
                        "WHERE token_hash = ?");
    q.bind(1, token_hash);
    if (q.executeStep()) {
      out = SessionRow{q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                       q.getColumn(2).getInt64(), q.getColumn(3).getInt64()};
    }
  }));
  return out;
}

Status SessionTable::remove(const std::string& token_hash) {
  return detail::guarded("deleting a session", [&] {
    SQLite::Statement q(db_.connection().db, "DELETE FROM sessions WHERE token_hash = ?");
    q.bind(1, token_hash);
    q.exec();
  });
}

Result<int64_t> SessionTable::remove_expired(int64_t now_ms) {
  int n = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("deleting expired sessions", [&] {
    SQLite::Statement q(db_.connection().db, "DELETE FROM sessions WHERE expires_ms <= ?");
    q.bind(1, static_cast<int64_t>(now_ms));
    n = q.exec();
  }));
  return n;
}

Status ApiKeyTable::insert(const ApiKeyRow& row) {
  return detail::guarded("adding an API key", [&] {
    SQLite::Statement q(db_.connection().db,
                        "INSERT INTO api_keys (id, name, prefix, key_hash, created_ms, "
                        "last_used_ms) VALUES (?, ?, ?, ?, ?, NULL)");
    q.bind(1, row.id);
    q.bind(2, row.name);
    q.bind(3, row.prefix);
    q.bind(4, row.key_hash);
    q.bind(5, static_cast<int64_t>(row.created_ms));
    q.exec();
  });
}

Result<std::vector<ApiKeyRow>> ApiKeyTable::list() {
  std::vector<ApiKeyRow> out;
  MLXM_RETURN_IF_ERROR(detail::guarded("listing API keys", [&] {
    SQLite::Statement q(db_.connection().db,
                        "SELECT id, name, prefix, key_hash, created_ms, last_used_ms FROM api_keys "
                        "ORDER BY created_ms, id");
    while (q.executeStep()) {
      ApiKeyRow r;
      r.id = q.getColumn(0).getString();
      r.name = q.getColumn(1).getString();
      r.prefix = q.getColumn(2).getString();
      r.key_hash = q.getColumn(3).getString();
      r.created_ms = q.getColumn(4).getInt64();
      r.last_used_ms = opt_int(q.getColumn(5));
      out.push_back(std::move(r));
    }
  }));
  return out;
}

Result<bool> ApiKeyTable::remove(const std::string& id) {
  int n = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("deleting an API key", [&] {
    SQLite::Statement q(db_.connection().db, "DELETE FROM api_keys WHERE id = ?");
    q.bind(1, id);
    n = q.exec();
  }));
  return n > 0;
}

Status ApiKeyTable::set_last_used(const std::string& id, int64_t t_ms) {
  return detail::guarded("updating an API key", [&] {
    SQLite::Statement q(db_.connection().db, "UPDATE api_keys SET last_used_ms = ? WHERE id = ?");
    q.bind(1, static_cast<int64_t>(t_ms));
    q.bind(2, id);
    q.exec();
  });
}

}  // namespace mlxm::store
