#include "api/server_settings/server_settings.h"

#include <algorithm>

#include "api/http/json.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/log.h"
#include "store/settings_table.h"

namespace mlxm::api {
namespace {

using nlohmann::json;

std::string key_of(const std::string& name) {
  return "server." + name;
}

}  // namespace

SettingField integer_setting(std::string name, std::string description, std::string unit,
                             int64_t min, int64_t max, std::function<json()> get,
                             std::function<void(const json&)> set) {
  SettingField f;
  f.name = std::move(name);
  f.description = std::move(description);
  f.unit = std::move(unit);
  f.min = min;
  f.max = max;
  f.get = std::move(get);
  f.set = std::move(set);
  return f;
}

SettingField choice_setting(std::string name, std::string description,
                            std::vector<std::string> options, std::function<json()> get,
                            std::function<void(const json&)> set) {
  SettingField f;
  f.name = std::move(name);
  f.description = std::move(description);
  f.is_choice = true;
  f.options = std::move(options);
  f.get = std::move(get);
  f.set = std::move(set);
  return f;
}

Result<std::shared_ptr<ServerSettings>> ServerSettings::open(const std::filesystem::path& db_path) {
  MLXM_ASSIGN_OR_RETURN(std::unique_ptr<store::Database> db, store::Database::open(db_path));
  return std::shared_ptr<ServerSettings>(new ServerSettings(std::move(db)));
}

void ServerSettings::add(SettingField field) {
  std::lock_guard lock(mu_);
  MLXM_CHECK_MSG(find(field.name) == nullptr, "duplicate setting");
  fields_.push_back(std::move(field));
}

const SettingField* ServerSettings::find(const std::string& name) const {
  for (const auto& f : fields_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Status ServerSettings::validate(const SettingField& f, const json& v) {
  if (f.is_choice) {
    if (!v.is_string() ||
        std::find(f.options.begin(), f.options.end(), v.get<std::string>()) == f.options.end()) {
      std::string all;
      for (const auto& o : f.options) all += (all.empty() ? "" : ", ") + o;
      return invalid_argument("'" + f.name + "' must be one of: " + all);
    }
    return ok_status();
  }
  if (!v.is_number_integer()) return invalid_argument("'" + f.name + "' must be an integer");
  const int64_t x = v.get<int64_t>();
  if (x < f.min || x > f.max) {
    return invalid_argument("'" + f.name + "' must be between " + std::to_string(f.min) + " and " +
                            std::to_string(f.max));
  }
  return ok_status();
}

Status ServerSettings::load_persisted() {
  std::lock_guard lock(mu_);
  store::SettingsTable table(*db_);
  MLXM_ASSIGN_OR_RETURN(auto stored, table.all());
  for (const auto& f : fields_) {
    auto it = stored.find(key_of(f.name));
    if (it == stored.end()) continue;
    json v = json::parse(it->second, nullptr, false);
    if (Status st = validate(f, v); !st.ok()) {
      MLXM_LOG_WARN("settings: ignoring the stored {}: {}", f.name, st.message());
      continue;
    }
    f.set(v);
    MLXM_LOG_INFO("settings: {} = {} (stored)", f.name, v.dump());
  }
  return ok_status();
}

json ServerSettings::current() const {
  std::lock_guard lock(mu_);
  json out = json::object();
  for (const auto& f : fields_) out[f.name] = f.get();
  return out;
}

json ServerSettings::fields() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& f : fields_) {
    json j = {{"name", f.name}, {"description", f.description}, {"live", true}};
    if (f.is_choice) {
      j["type"] = "choice";
      j["options"] = f.options;
    } else {
      j["type"] = "integer";
      j["min"] = f.min;
      j["max"] = f.max;
    }
    if (!f.unit.empty()) j["unit"] = f.unit;
    out.push_back(std::move(j));
  }
  return out;
}

Result<std::vector<std::string>> ServerSettings::apply(const json& patch, int64_t now_ms) {
  if (!patch.is_object()) return invalid_argument("the body must be a JSON object of settings");
  std::lock_guard lock(mu_);
  for (const auto& [name, v] : patch.items()) {
    const SettingField* f = find(name);
    if (f == nullptr) return invalid_argument("unknown setting '" + name + "'");
    MLXM_RETURN_IF_ERROR(validate(*f, v));
  }
  store::SettingsTable table(*db_);
  std::vector<std::string> changed;
  for (const auto& [name, v] : patch.items()) {
    const SettingField* f = find(name);
    MLXM_RETURN_IF_ERROR(table.put(key_of(name), v.dump(), now_ms));
    if (f->get() != v) changed.push_back(name);
    f->set(v);
    MLXM_LOG_INFO("settings: {} = {}", name, v.dump());
  }
  return changed;
}

Result<json> ServerSettings::from_env(const SettingField& f) {
  if (f.env_var.empty()) return json(nullptr);
  std::optional<std::string> raw = env_get(f.env_var.c_str());
  if (!raw) return json(nullptr);
  if (f.is_choice) return json(*raw);
  MLXM_ASSIGN_OR_RETURN(int64_t x, parse_int(f.env_var, *raw, f.min, f.max));
  return json(x);
}

Result<json> ServerSettings::reload() {
  std::lock_guard lock(mu_);
  store::SettingsTable table(*db_);
  MLXM_ASSIGN_OR_RETURN(auto stored, table.all());
  json changed = json::object();
  json unchanged = json::array();
  json restart_required = json::array();
  for (const auto& f : fields_) {
    json target = nullptr;
    if (auto it = stored.find(key_of(f.name)); it != stored.end()) {
      json v = json::parse(it->second, nullptr, false);
      if (Status st = validate(f, v); st.ok()) {
        target = std::move(v);
      } else {
        MLXM_LOG_WARN("settings reload: ignoring the stored {}: {}", f.name, st.message());
      }
    }
    if (target.is_null()) {
      Result<json> env = from_env(f);
      if (!env.ok()) {
        MLXM_LOG_WARN("settings reload: ignoring {}", env.status().message());
      } else if (Status st = validate(f, *env); !env->is_null() && !st.ok()) {
        MLXM_LOG_WARN("settings reload: ignoring {}: {}", f.env_var, st.message());
      } else {
        target = std::move(env).value();
      }
    }
    const json before = f.get();
    if (target.is_null() || target == before) {
      unchanged.push_back(f.name);
      continue;
    }
    f.set(target);
    changed[f.name] = {{"from", before}, {"to", f.get()}};
    MLXM_LOG_INFO("settings reload: {} = {} (was {})", f.name, target.dump(), before.dump());
  }
  for (const auto& [key, value] : stored) {
    if (key.rfind("server.", 0) != 0) continue;
    const std::string name = key.substr(7);
    if (find(name) == nullptr) restart_required.push_back(name);
  }
  return json{{"changed", std::move(changed)},
              {"unchanged", std::move(unchanged)},
              {"restart_required", std::move(restart_required)}};
}

void register_server_settings_routes(http::Router& router, std::shared_ptr<ServerSettings> s) {
  router.add("GET", "/api/settings/server", [s](http::HttpRequest&) {
    return http::json_response(200, {{"settings", s->current()}, {"fields", s->fields()}});
  });
  auto put = [s](http::HttpRequest& req) {
    http::JsonBody body = http::parse_json_body(req);
    if (!body.ok()) return *body.error;
    Result<std::vector<std::string>> changed = s->apply(body.value, unix_ms());
    if (!changed.ok()) return http::error_response(changed.status());
    return http::json_response(200, {{"settings", s->current()}, {"changed", *changed}});
  };
  router.add("PUT", "/api/settings/server", put);
  router.add("PATCH", "/api/settings/server", put);
  router.add("POST", "/admin/reload-config", [s](http::HttpRequest&) {
    Result<json> report = s->reload();
    if (!report.ok()) return http::error_response(report.status());
    return http::json_response(200, *report);
  });
}

}  // namespace mlxm::api
