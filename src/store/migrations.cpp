#include "store/migrations.h"

namespace mlxm::store {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "audit_log",
       R"sql(
CREATE TABLE audit_log (
  id                INTEGER PRIMARY KEY,
  request_id        TEXT    NOT NULL,
  ts_ms             INTEGER NOT NULL,
  method            TEXT    NOT NULL DEFAULT '',
  endpoint          TEXT    NOT NULL,
  model             TEXT    NOT NULL DEFAULT '',
  backend           TEXT    NOT NULL DEFAULT '',
  status            TEXT    NOT NULL CHECK (status IN ('success', 'error', 'timeout', 'cancelled')),
  http_status       INTEGER NOT NULL,
  finish_reason     TEXT    NOT NULL DEFAULT '',
  stream            INTEGER NOT NULL DEFAULT 0,
  duration_ms       REAL    NOT NULL,
  queue_ms          REAL,
  ttft_ms           REAL,
  prompt_tokens     INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  cached_tokens     INTEGER NOT NULL DEFAULT 0,
  tokens_per_second REAL,
  error_type        TEXT,
  error_message     TEXT,
  client_address    TEXT    NOT NULL DEFAULT '',
  api_key_id        TEXT,
  prompt_content    TEXT,
  response_content  TEXT
);
CREATE INDEX audit_log_ts ON audit_log (ts_ms);
CREATE INDEX audit_log_model_ts ON audit_log (model, ts_ms);
CREATE INDEX audit_log_status_ts ON audit_log (status, ts_ms);
)sql"},
      {2, "auth",
       R"sql(
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT    NOT NULL,
  is_admin      INTEGER NOT NULL DEFAULT 0,
  status        TEXT    NOT NULL CHECK (status IN ('active', 'pending')),
  created_ms    INTEGER NOT NULL,
  last_login_ms INTEGER
);
CREATE TABLE sessions (
  token_hash TEXT    PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_ms);
CREATE TABLE api_keys (
  id           TEXT    PRIMARY KEY,
  name         TEXT    NOT NULL,
  prefix       TEXT    NOT NULL,
  key_hash     TEXT    NOT NULL UNIQUE,
  created_ms   INTEGER NOT NULL,
  last_used_ms INTEGER
);
)sql"},
      {3, "settings",
       R"sql(
CREATE TABLE settings (
  key        TEXT    PRIMARY KEY,
  value      TEXT    NOT NULL,
  updated_ms INTEGER NOT NULL
);
)sql"},
      {4, "cloud",
       R"sql(
CREATE TABLE cloud_providers (
  position INTEGER PRIMARY KEY,
  name     TEXT    NOT NULL UNIQUE,
  config   TEXT    NOT NULL
);
CREATE TABLE routing_rules (
  position INTEGER PRIMARY KEY,
  id       TEXT    NOT NULL UNIQUE,
  config   TEXT    NOT NULL
);
)sql"},
  };
  return kMigrations;
}

}  // namespace mlxm::store
