// Live server settings (docs/configuration.md, "Live settings"): each setting is a named integer
// range or a choice with a getter and a setter on the running component; PUT validates the whole
// patch first (400 naming the setting), then applies it and persists it in the settings table
// (key "server.<name>"), so it also holds after a restart (stored values override the
// environment at start-up).
//
//   GET /api/settings/server  -> {"settings": {name: value}, "fields": [{name, type, min, max,
//                                  options, unit, description}]}
//   PUT /api/settings/server  {name: value, ...} -> {"settings": {...}, "changed": [names]}
//   POST /admin/reload-config -> {"changed": {name: {"from": x, "to": y}}, "unchanged": [names],
//                                 "restart_required": [names]}  (also on SIGHUP, see serve)
//
// Reload re-reads the sources of every setting, the database winning over the environment as at
// start-up: the stored value when there is one, else the setting's environment variable when
// set, else the setting keeps its value. "restart_required" names the stored server settings
// that no live setting takes (they apply at the next start, if at all).
//
// Thread-safety: thread-safe (one mutex around apply and the database connection); getters and
// setters must be thread-safe themselves.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http/router.h"
#include "core/status.h"
#include "store/database.h"

namespace mlxm::api {

struct SettingField {
  std::string name;
  std::string description;
  std::string unit;  // "MiB", "seconds", ...; "" for none
  bool is_choice = false;
  int64_t min = 0, max = 0;          // integers
  std::vector<std::string> options;  // choices
  std::function<nlohmann::json()> get;
  std::function<void(const nlohmann::json&)> set;  // receives a validated value
  // The environment variable holding the same value in the same unit, re-read by reload();
  // "" when there is none (the setting then reloads from the database only).
  std::string env_var;
};

SettingField integer_setting(std::string name, std::string description, std::string unit,
                             int64_t min, int64_t max, std::function<nlohmann::json()> get,
                             std::function<void(const nlohmann::json&)> set);
SettingField choice_setting(std::string name, std::string description,
                            std::vector<std::string> options, std::function<nlohmann::json()> get,
                            std::function<void(const nlohmann::json&)> set);

class ServerSettings {
 public:
  // Opens its own connection to the database.
  static Result<std::shared_ptr<ServerSettings>> open(const std::filesystem::path& db_path);

  void add(SettingField field);
  // Applies the stored values of the registered settings (call after add()). A stored value
  // that no longer validates is skipped with a warning.
  Status load_persisted();

  nlohmann::json current() const;
  nlohmann::json fields() const;
  // Validates every key of `patch` (InvalidArgument naming it), then applies and persists.
  Result<std::vector<std::string>> apply(const nlohmann::json& patch, int64_t now_ms);
  // Re-reads the database and the environment and applies what differs (see the top).
  // A value that does not validate is skipped with a warning. Errors: the database cannot be
  // read.
  Result<nlohmann::json> reload();

 private:
  explicit ServerSettings(std::unique_ptr<store::Database> db) : db_(std::move(db)) {}
  const SettingField* find(const std::string& name) const;
  static Status validate(const SettingField& f, const nlohmann::json& v);
  // The setting's value in the environment (parsed, not yet validated), or null when unset.
  static Result<nlohmann::json> from_env(const SettingField& f);

  mutable std::mutex mu_;
  std::unique_ptr<store::Database> db_;
  std::vector<SettingField> fields_;
};

void register_server_settings_routes(http::Router& router, std::shared_ptr<ServerSettings> s);

}  // namespace mlxm::api
