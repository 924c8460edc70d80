// The auth tables (migration 2): users, sessions and API keys. Only hashes of session tokens and
// API keys are stored, never the tokens; password hashes are opaque strings (Argon2id, made by
// src/auth). Times are Unix milliseconds.
//
// Thread-safety: like AuditLog, each table uses its Database from the calling thread; one thread
// at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/database.h"

namespace mlxm::store {

struct UserRow {
  int64_t id = 0;
  std::string username;
  std::string password_hash;
  bool is_admin = false;
  std::string status;  // "active" | "pending"
  int64_t created_ms = 0;
  std::optional<int64_t> last_login_ms;
};

class UserTable {
 public:
  explicit UserTable(Database& db) : db_(db) {}
  // Inserts and returns the row with its id. AlreadyExists when the username is taken
  // (case-insensitive).
  Result<UserRow> insert(UserRow row);
  // Inserts `row` as an active admin only when the table is empty, in one transaction (two
  // racing first registrations cannot both become admin); otherwise inserts it as given.
  Result<UserRow> insert_first_as_admin(UserRow row);
  Result<std::optional<UserRow>> find_by_name(const std::string& username);
  Result<std::optional<UserRow>> find_by_id(int64_t id);
  Result<std::vector<UserRow>> list();  // by id
  Result<int64_t> count();
  Result<int64_t> count_active_admins();
  Status set_status(int64_t id, const std::string& status);
  Status set_last_login(int64_t id, int64_t t_ms);
  // True when a row was deleted (its sessions go with it: ON DELETE CASCADE).
  Result<bool> remove(int64_t id);

 private:
  Database& db_;
};

struct SessionRow {
  std::string token_hash;
  int64_t user_id = 0;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
};

class SessionTable {
 public:
  explicit SessionTable(Database& db) : db_(db) {}
  Status insert(const SessionRow& row);
  Result<std::optional<SessionRow>> find(const std::string& token_hash);
  Status remove(const std::string& token_hash);
  // Deletes sessions with expires_ms <= now_ms; returns how many.
  Result<int64_t> remove_expired(int64_t now_ms);

 private:
  Database& db_;
};

struct ApiKeyRow {
  std::string id;  // "key_..."
  std::string name;
  std::string prefix;  // the first characters of the key, for recognising it in a list
  std::string key_hash;
  int64_t created_ms = 0;
  std::optional<int64_t> last_used_ms;
};

class ApiKeyTable {
 public:
  explicit ApiKeyTable(Database& db) : db_(db) {}
  Status insert(const ApiKeyRow& row);
  Result<std::vector<ApiKeyRow>> list();  // oldest first
  Result<bool> remove(const std::string& id);
  Status set_last_used(const std::string& id, int64_t t_ms);

 private:
  Database& db_;
};

}  // namespace mlxm::store
