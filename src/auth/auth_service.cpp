#include "auth/auth_service.h"

#include "auth/crypto.h"
#include "core/env.h"
#include "core/log.h"

namespace mlxm::auth {
namespace {

constexpr int64_t kLastUsedWriteEveryMs = 60'000;
constexpr size_t kMaxKeyName = 100;

}  // namespace

Result<AuthConfig> auth_config_from_env() {
  AuthConfig c;
  MLXM_ASSIGN_OR_RETURN(c.env_api_keys, env_list("MLX_SERVER_API_KEYS"));
  for (const std::string& k : c.env_api_keys) {
    if (k.empty()) return invalid_argument("MLX_SERVER_API_KEYS: an empty key in the list");
  }
  c.admin_token = env_string("MLX_SERVER_ADMIN_TOKEN", "");
  MLXM_ASSIGN_OR_RETURN(int64_t hours, env_int("MLX_SERVER_SESSION_TTL_HOURS", 168, 1, 8760));
  c.session_ttl = std::chrono::hours(hours);
  return c;
}

Status validate_username(const std::string& username) {
  if (username.empty() || username.size() > 64) {
    return invalid_argument("'username' must have 1 to 64 characters");
  }
  for (char c : username) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok) return invalid_argument("'username' may only contain letters, digits and . _ @ -");
  }
  return ok_status();
}

Status validate_password(const std::string& password) {
  if (password.size() < 8) return invalid_argument("'password' must have at least 8 characters");
  if (password.size() > 1024) return invalid_argument("'password' must have at most 1024 bytes");
  return ok_status();
}

User user_from_row(const store::UserRow& row) {
  return User{row.id,         row.username,     row.is_admin, row.status == "active",
              row.created_ms, row.last_login_ms};
}

AuthService::AuthService(std::unique_ptr<store::Database> db, AuthConfig config)
    : db_(std::move(db)), config_(std::move(config)) {}

Result<std::shared_ptr<AuthService>> AuthService::open(const std::filesystem::path& db_path,
                                                       AuthConfig config) {
  MLXM_ASSIGN_OR_RETURN(std::unique_ptr<store::Database> db, store::Database::open(db_path));
  std::shared_ptr<AuthService> s(new AuthService(std::move(db), std::move(config)));
  std::lock_guard lock(s->mu_);
  MLXM_RETURN_IF_ERROR(s->load_locked());
  return s;
}

Status AuthService::load_locked() {
  keys_by_hash_.clear();
  for (size_t i = 0; i < config_.env_api_keys.size(); ++i) {
    keys_by_hash_[token_hash(config_.env_api_keys[i])] = {"env-" + std::to_string(i + 1), true, 0};
  }
  store::ApiKeyTable keys(*db_);
  MLXM_ASSIGN_OR_RETURN(std::vector<store::ApiKeyRow> rows, keys.list());
  for (const auto& r : rows) keys_by_hash_[r.key_hash] = {r.id, false, r.last_used_ms.value_or(0)};
  n_keys_ = static_cast<int64_t>(keys_by_hash_.size());
  store::UserTable users(*db_);
  MLXM_ASSIGN_OR_RETURN(int64_t n, users.count());
  n_users_ = n;
  return ok_status();
}

Result<User> AuthService::register_user(const std::string& username, const std::string& password,
                                        int64_t now_ms) {
  MLXM_RETURN_IF_ERROR(validate_username(username));
  MLXM_RETURN_IF_ERROR(validate_password(password));
  MLXM_ASSIGN_OR_RETURN(std::string hash, hash_password(password));
  store::UserRow row;
  row.username = username;
  row.password_hash = std::move(hash);
  row.status = "pending";
  row.created_ms = now_ms;
  std::lock_guard lock(mu_);
  store::UserTable users(*db_);
  MLXM_ASSIGN_OR_RETURN(store::UserRow added, users.insert_first_as_admin(std::move(row)));
  ++n_users_;
  MLXM_LOG_INFO("auth: registered user '{}' ({})", added.username,
                added.is_admin ? "admin" : "pending approval");
  return user_from_row(added);
}

Result<Session> AuthService::create_session_locked(const User& user, int64_t now_ms) {
  Session s;
  s.token = random_hex(32);
  s.user = user;
  s.expires_ms =
      now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(config_.session_ttl).count();
  store::SessionTable sessions(*db_);
  MLXM_RETURN_IF_ERROR(sessions.insert({token_hash(s.token), user.id, now_ms, s.expires_ms}));
  return s;
}

Result<Session> AuthService::create_session(const User& user, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return create_session_locked(user, now_ms);
}

Result<Session> AuthService::login(const std::string& username, const std::string& password,
                                   int64_t now_ms) {
  const Status wrong(StatusCode::kUnauthenticated, "wrong username or password");
  std::optional<store::UserRow> row;
  {
    std::lock_guard lock(mu_);
    store::UserTable users(*db_);
    MLXM_ASSIGN_OR_RETURN(row, users.find_by_name(username));
  }
  if (!row) {
    burn_password_check(password);
    return wrong;
  }
  if (!verify_password(row->password_hash, password)) return wrong;
  if (row->status != "active") {
    return Status(StatusCode::kPermissionDenied,
                  "the account '" + row->username + "' is waiting for an administrator's approval");
  }
  std::lock_guard lock(mu_);
  store::UserTable users(*db_);
  store::SessionTable sessions(*db_);
  (void)sessions.remove_expired(now_ms);  // housekeeping; a failure here is not the caller's
  MLXM_RETURN_IF_ERROR(users.set_last_login(row->id, now_ms));
  row->last_login_ms = now_ms;
  return create_session_locked(user_from_row(*row), now_ms);
}

std::optional<Session> AuthService::session_user(std::string_view token, int64_t now_ms) {
  if (token.empty()) return std::nullopt;
  const std::string hash = token_hash(token);
  std::lock_guard lock(mu_);
  store::SessionTable sessions(*db_);
  Result<std::optional<store::SessionRow>> s = sessions.find(hash);
  if (!s.ok()) {
    MLXM_LOG_WARN("auth: {}", s.status().message());
    return std::nullopt;
  }
  if (!s->has_value()) return std::nullopt;
  if ((*s)->expires_ms <= now_ms) {
    (void)sessions.remove(hash);
    return std::nullopt;
  }
  store::UserTable users(*db_);
  Result<std::optional<store::UserRow>> u = users.find_by_id((*s)->user_id);
  if (!u.ok() || !u->has_value() || (**u).status != "active") return std::nullopt;
  return Session{"", user_from_row(**u), (*s)->expires_ms};
}

Status AuthService::logout(std::string_view token) {
  if (token.empty()) return ok_status();
  std::lock_guard lock(mu_);
  store::SessionTable sessions(*db_);
  return sessions.remove(token_hash(token));
}

Result<std::vector<User>> AuthService::list_users() {
  std::lock_guard lock(mu_);
  store::UserTable users(*db_);
  MLXM_ASSIGN_OR_RETURN(std::vector<store::UserRow> rows, users.list());
  std::vector<User> out;
  for (const auto& r : rows) out.push_back(user_from_row(r));
  return out;
}

Result<User> AuthService::approve_user(int64_t id) {
  std::lock_guard lock(mu_);
  store::UserTable users(*db_);
  MLXM_ASSIGN_OR_RETURN(std::optional<store::UserRow> row, users.find_by_id(id));
  if (!row) return not_found("no user with id " + std::to_string(id));
  if (row->status != "active") {
    MLXM_RETURN_IF_ERROR(users.set_status(id, "active"));
    row->status = "active";
    MLXM_LOG_INFO("auth: user '{}' approved", row->username);
  }
  return user_from_row(*row);
}

Status AuthService::delete_user(int64_t id) {
  std::lock_guard lock(mu_);
  store::UserTable users(*db_);
  MLXM_ASSIGN_OR_RETURN(std::optional<store::UserRow> row, users.find_by_id(id));
  if (!row) return not_found("no user with id " + std::to_string(id));
  if (row->is_admin && row->status == "active") {
    MLXM_ASSIGN_OR_RETURN(int64_t n_admins, users.count_active_admins());
    if (n_admins <= 1) {
      return Status(
          StatusCode::kPermissionDenied,
          "'" + row->username + "' is the last active administrator and cannot be deleted");
    }
  }
  MLXM_ASSIGN_OR_RETURN(bool gone, users.remove(id));
  if (gone) --n_users_;
  MLXM_LOG_INFO("auth: user '{}' deleted", row->username);
  return ok_status();
}

Result<NewApiKey> AuthService::create_api_key(const std::string& name, int64_t now_ms) {
  if (name.empty() || name.size() > kMaxKeyName) {
    return invalid_argument("'name' must have 1 to 100 characters");
  }
  NewApiKey out;
  out.key = std::string(kApiKeyPrefix) + random_hex(24);
  out.info.id = "key_" + random_hex(8);
  out.info.name = name;
  out.info.prefix = out.key.substr(0, std::string_view(kApiKeyPrefix).size() + 8);
  out.info.created_ms = now_ms;
  store::ApiKeyRow row{out.info.id,         name,   out.info.prefix,
                       token_hash(out.key), now_ms, std::nullopt};
  std::lock_guard lock(mu_);
  store::ApiKeyTable keys(*db_);
  MLXM_RETURN_IF_ERROR(keys.insert(row));
  keys_by_hash_[row.key_hash] = {row.id, false, 0};
  n_keys_ = static_cast<int64_t>(keys_by_hash_.size());
  MLXM_LOG_INFO("auth: API key {} ('{}') created", out.info.id, name);
  return out;
}

Result<std::vector<ApiKeyInfo>> AuthService::list_api_keys() {
  std::lock_guard lock(mu_);
  store::ApiKeyTable keys(*db_);
  MLXM_ASSIGN_OR_RETURN(std::vector<store::ApiKeyRow> rows, keys.list());
  std::vector<ApiKeyInfo> out;
  for (const auto& r : rows) out.push_back({r.id, r.name, r.prefix, r.created_ms, r.last_used_ms});
  return out;
}

Status AuthService::delete_api_key(const std::string& id) {
  std::lock_guard lock(mu_);
  store::ApiKeyTable keys(*db_);
  MLXM_ASSIGN_OR_RETURN(bool gone, keys.remove(id));
  if (!gone) return not_found("no API key with id '" + id + "'");
  for (auto it = keys_by_hash_.begin(); it != keys_by_hash_.end(); ++it) {
    if (it->second.id == id && !it->second.from_env) {
      keys_by_hash_.erase(it);
      break;
    }
  }
  n_keys_ = static_cast<int64_t>(keys_by_hash_.size());
  MLXM_LOG_INFO("auth: API key {} deleted", id);
  return ok_status();
}

std::optional<std::string> AuthService::verify_api_key(std::string_view key, int64_t now_ms) {
  if (key.empty()) return std::nullopt;
  // The map is keyed by a hash of the key, so the lookup itself leaks nothing useful in timing.
  const std::string hash = token_hash(key);
  std::lock_guard lock(mu_);
  auto it = keys_by_hash_.find(hash);
  if (it == keys_by_hash_.end()) return std::nullopt;
  KnownKey& k = it->second;
  if (!k.from_env && now_ms - k.last_written_ms >= kLastUsedWriteEveryMs) {
    store::ApiKeyTable keys(*db_);
    if (Status st = keys.set_last_used(k.id, now_ms); !st.ok()) {
      MLXM_LOG_WARN("auth: {}", st.message());
    }
    k.last_written_ms = now_ms;
  }
  return k.id;
}

bool AuthService::is_admin_token(std::string_view token) const {
  return !config_.admin_token.empty() && constant_time_equal(token, config_.admin_token);
}

}  // namespace mlxm::auth
