// AuthService: users (first one admin, later ones pending until approved), sessions (random
// tokens stored hashed, with expiry), API keys (MLX_SERVER_API_KEYS plus keys created here,
// stored hashed, shown once) and the admin token (MLX_SERVER_ADMIN_TOKEN). See docs/auth.md.
//
// API keys are checked in memory (a map of hashes loaded at open and kept in step with
// create/delete), so the hot path of /v1/* does not touch the database; last-used times are
// written at most once a minute per key. Users and sessions are read from the database.
//
// Thread-safety: thread-safe (one mutex around the database connection and the key map).
// Password hashing (Argon2id) runs outside the lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/auth_tables.h"
#include "store/database.h"

namespace mlxm::auth {

struct AuthConfig {
  std::vector<std::string> env_api_keys;            // MLX_SERVER_API_KEYS
  std::string admin_token;                          // MLX_SERVER_ADMIN_TOKEN ("" = none)
  std::chrono::seconds session_ttl{7 * 24 * 3600};  // MLX_SERVER_SESSION_TTL_HOURS
};

// Reads MLX_SERVER_API_KEYS, MLX_SERVER_ADMIN_TOKEN, MLX_SERVER_SESSION_TTL_HOURS (1..8760).
Result<AuthConfig> auth_config_from_env();

struct User {
  int64_t id = 0;
  std::string username;
  bool is_admin = false;
  bool active = false;  // false: pending approval
  int64_t created_ms = 0;
  std::optional<int64_t> last_login_ms;
};

struct Session {
  std::string token;  // only in the answer to register/login; never stored
  User user;
  int64_t expires_ms = 0;
};

struct ApiKeyInfo {
  std::string id;
  std::string name;
  std::string prefix;
  int64_t created_ms = 0;
  std::optional<int64_t> last_used_ms;
};

struct NewApiKey {
  ApiKeyInfo info;
  std::string key;  // shown once
};

inline constexpr const char* kApiKeyPrefix = "mlxm-";

// Username: 1..64 of [A-Za-z0-9._@-]; password: 8..1024 bytes. InvalidArgument naming the field.
Status validate_username(const std::string& username);
Status validate_password(const std::string& password);

class AuthService {
 public:
  // Opens its own connection to the database at `db_path` (migrated).
  static Result<std::shared_ptr<AuthService>> open(const std::filesystem::path& db_path,
                                                   AuthConfig config);

  // --- users ---
  // The first user ever becomes an active admin; later ones are pending. Errors: InvalidArgument
  // (bad username/password), AlreadyExists (taken).
  Result<User> register_user(const std::string& username, const std::string& password,
                             int64_t now_ms);
  // Errors: Unauthenticated (unknown user or wrong password, same message), PermissionDenied
  // (pending approval).
  Result<Session> login(const std::string& username, const std::string& password, int64_t now_ms);
  // A new session for an existing, active user (e.g. right after the first registration).
  Result<Session> create_session(const User& user, int64_t now_ms);
  // The active user behind a session token; nullopt when unknown, expired (then deleted) or the
  // user is no longer active.
  std::optional<Session> session_user(std::string_view token, int64_t now_ms);
  Status logout(std::string_view token);
  Result<std::vector<User>> list_users();
  // Errors: NotFound.
  Result<User> approve_user(int64_t id);
  // Errors: NotFound; PermissionDenied when it is the last active admin.
  Status delete_user(int64_t id);
  bool has_users() const { return n_users_.load() > 0; }

  // --- API keys ---
  // Errors: InvalidArgument (name longer than 100 characters or empty).
  Result<NewApiKey> create_api_key(const std::string& name, int64_t now_ms);
  Result<std::vector<ApiKeyInfo>> list_api_keys();
  // Errors: NotFound.
  Status delete_api_key(const std::string& id);
  // The key's id ("key_..." or "env-N") when `key` is valid; records its use.
  std::optional<std::string> verify_api_key(std::string_view key, int64_t now_ms);
  // True when any API key exists (environment or database): /v1/* then needs one.
  bool api_keys_required() const { return n_keys_.load() > 0; }
  size_t n_env_keys() const { return config_.env_api_keys.size(); }

  // --- admin token ---
  bool has_admin_token() const { return !config_.admin_token.empty(); }
  bool is_admin_token(std::string_view token) const;

  std::chrono::seconds session_ttl() const { return config_.session_ttl; }

 private:
  AuthService(std::unique_ptr<store::Database> db, AuthConfig config);
  Status load_locked();
  Result<Session> create_session_locked(const User& user, int64_t now_ms);

  struct KnownKey {
    std::string id;
    bool from_env = false;
    int64_t last_written_ms = 0;  // last time last_used_ms went to the database
  };

  mutable std::mutex mu_;
  std::unique_ptr<store::Database> db_;
  const AuthConfig config_;
  std::map<std::string, KnownKey> keys_by_hash_;  // token_hash(key) -> key
  std::atomic<int64_t> n_users_{0};
  std::atomic<int64_t> n_keys_{0};
};

User user_from_row(const store::UserRow& row);

}  // namespace mlxm::auth
