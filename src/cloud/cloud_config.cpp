#include "cloud/cloud_config.h"

#include <algorithm>

#include "core/env.h"

namespace mlxm::cloud {

using nlohmann::json;

namespace {

api::ApiError not_found_error(const std::string& what) {
  api::ApiError e;
  e.http_status = 404;
  e.type = "not_found_error";
  e.message = what;
  return e;
}

api::ApiError conflict(const std::string& param, const std::string& what) {
  api::ApiError e;
  e.http_status = 409;
  e.type = "invalid_request_error";
  e.param = param;
  e.message = what;
  return e;
}

// Providers that exist because their key is in the environment.
std::vector<ProviderConfig> implicit_providers(const std::vector<ProviderConfig>& file) {
  std::vector<ProviderConfig> out;
  for (const char* name : {"openai", "anthropic"}) {
    const bool defined = std::any_of(file.begin(), file.end(),
                                     [&](const ProviderConfig& p) { return p.name == name; });
    const ProviderPreset* pre = find_preset(name);
    if (defined || !env_get(pre->key_env)) continue;
    ProviderConfig p;
    p.name = name;
    p.kind = pre->kind;
    p.preset = name;
    p.base_url = pre->base_url;
    out.push_back(std::move(p));
  }
  return out;
}

Status entry_error(const std::string& source, size_t i, const api::ApiError& e) {
  return invalid_argument(source + ": entry " + std::to_string(i) + ": " + e.message);
}

}  // namespace

CloudConfig::CloudConfig(CloudOptions options)
    : options_(std::move(options)), client_(std::make_unique<HttpClient>(options_.http)) {
  if (!options_.storage) options_.storage = std::make_shared<FileCloudStorage>(options_.home);
}

Result<std::shared_ptr<CloudConfig>> CloudConfig::open(CloudOptions options) {
  std::shared_ptr<CloudConfig> c(new CloudConfig(std::move(options)));
  CloudStorage& storage = *c->options_.storage;
  const std::string psource = storage.providers_source();
  MLXM_ASSIGN_OR_RETURN(CloudEntries stored, storage.load());
  bool clear_keys_found = false;
  // Keys written before sealing was on are sealed at once below.
  for (size_t i = 0; i < stored.providers.size(); ++i) {
    json entry = stored.providers[i];
    if (entry.is_object() && entry.contains("api_key_sealed")) {
      if (!c->options_.cipher) {
        return invalid_argument(psource + ": entry " + std::to_string(i) +
                                ": a sealed key, but no secret key is available to open it");
      }
      const json& sealed = entry["api_key_sealed"];
      if (!sealed.is_string()) {
        return invalid_argument(psource + ": entry " + std::to_string(i) +
                                ": 'api_key_sealed' must be a string");
      }
      auto key = c->options_.cipher->open(sealed.get<std::string>());
      if (!key.ok()) {
        return invalid_argument(psource + ": entry " + std::to_string(i) +
                                ": cannot open the sealed key (" + key.status().message() +
                                "); was secret.key replaced?");
      }
      entry.erase("api_key_sealed");
      entry["api_key"] = *key;
    } else if (entry.is_object() && entry.contains("api_key") && c->options_.cipher) {
      clear_keys_found = true;
    }
    auto p = parse_provider(entry);
    if (auto* e = std::get_if<api::ApiError>(&p)) return entry_error(psource, i, *e);
    c->file_providers_.push_back(std::get<ProviderConfig>(std::move(p)));
  }
  if (clear_keys_found) {
    const auto entries = c->provider_entries(c->file_providers_);
    MLXM_RETURN_IF_ERROR(storage.save(&entries, nullptr));
  }
  std::lock_guard<std::mutex> lock(c->edit_mu_);
  auto known = [&](const std::string& n) { return c->known_locked(n); };
  for (size_t i = 0; i < stored.rules.size(); ++i) {
    auto r = parse_rule(stored.rules[i], known);
    if (auto* e = std::get_if<api::ApiError>(&r)) return entry_error(storage.rules_source(), i, *e);
    Rule rule = std::get<Rule>(std::move(r));
    if (rule.id.empty()) rule.id = new_rule_id();
    c->rules_.push_back(std::move(rule));
  }
  auto snap = std::make_shared<Snapshot>();
  snap->providers = c->file_providers_;
  for (auto& p : implicit_providers(c->file_providers_)) snap->providers.push_back(std::move(p));
  snap->rules = std::make_shared<const RuleSet>(RuleSet::compile(c->rules_));
  c->snap_ = std::move(snap);
  return c;
}

std::shared_ptr<const CloudConfig::Snapshot> CloudConfig::snapshot() const {
  std::lock_guard<std::mutex> lock(snap_mu_);
  return snap_;
}

std::optional<ProviderConfig> CloudConfig::provider(const std::string& name) const {
  auto s = snapshot();
  for (const auto& p : s->providers) {
    if (p.name == name) return p;
  }
  return std::nullopt;
}

bool CloudConfig::known_locked(const std::string& name) const {
  if (std::any_of(file_providers_.begin(), file_providers_.end(),
                  [&](const ProviderConfig& p) { return p.name == name; })) {
    return true;
  }
  for (const auto& p : implicit_providers(file_providers_)) {
    if (p.name == name) return true;
  }
  return false;
}

std::vector<json> CloudConfig::provider_entries(const std::vector<ProviderConfig>& providers) const {
  std::vector<json> out;
  for (const auto& p : providers) {
    json j = provider_file_json(p);
    if (options_.cipher && j.contains("api_key")) {
      j["api_key_sealed"] = options_.cipher->seal(j["api_key"].get<std::string>());
      j.erase("api_key");
    }
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<json> CloudConfig::rule_entries(const std::vector<Rule>& rules) {
  std::vector<json> out;
  for (const auto& r : rules) out.push_back(rule_json(r));
  return out;
}

Status CloudConfig::copy_to(CloudStorage& to) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  const auto providers = provider_entries(file_providers_);
  const auto rules = rule_entries(rules_);
  return to.save(&providers, &rules);
}

EditResult CloudConfig::commit_locked(std::vector<ProviderConfig> file_providers,
                                      std::vector<Rule> rules, bool providers_changed,
                                      bool rules_changed) {
  auto fail = [](const Status& st) {
    api::ApiError e = api::api_error_from_status(st);
    e.http_status = 500;
    e.type = "server_error";
    return e;
  };
  if (providers_changed || rules_changed) {
    const auto p = providers_changed ? provider_entries(file_providers) : std::vector<json>{};
    const auto r = rules_changed ? rule_entries(rules) : std::vector<json>{};
    Status st = options_.storage->save(providers_changed ? &p : nullptr, rules_changed ? &r : nullptr);
    if (!st.ok()) return fail(st);
  }
  file_providers_ = std::move(file_providers);
  rules_ = std::move(rules);
  auto snap = std::make_shared<Snapshot>();
  snap->providers = file_providers_;
  for (auto& p : implicit_providers(file_providers_)) snap->providers.push_back(std::move(p));
  snap->rules = std::make_shared<const RuleSet>(RuleSet::compile(rules_));
  std::lock_guard<std::mutex> lock(snap_mu_);
  snap_ = std::move(snap);
  return std::nullopt;
}

api::Parsed<Rule> CloudConfig::add_rule(const json& body, int position) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  auto parsed = parse_rule(body, [this](const std::string& n) { return known_locked(n); });
  if (auto* e = std::get_if<api::ApiError>(&parsed)) return *e;
  Rule r = std::get<Rule>(std::move(parsed));
  r.id = new_rule_id();
  std::vector<Rule> rules = rules_;
  const auto at = position < 0 || static_cast<size_t>(position) >= rules.size()
                      ? rules.end()
                      : rules.begin() + position;
  rules.insert(at, r);
  if (auto e = commit_locked(file_providers_, std::move(rules), false, true)) return *e;
  return r;
}

api::Parsed<Rule> CloudConfig::update_rule(const std::string& id, const json& body) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  auto it = std::find_if(rules_.begin(), rules_.end(), [&](const Rule& r) { return r.id == id; });
  if (it == rules_.end()) return not_found_error("no rule with id '" + id + "'");
  auto parsed = parse_rule(body, [this](const std::string& n) { return known_locked(n); });
  if (auto* e = std::get_if<api::ApiError>(&parsed)) return *e;
  Rule r = std::get<Rule>(std::move(parsed));
  r.id = id;
  std::vector<Rule> rules = rules_;
  rules[static_cast<size_t>(it - rules_.begin())] = r;
  if (auto e = commit_locked(file_providers_, std::move(rules), false, true)) return *e;
  return r;
}

EditResult CloudConfig::delete_rule(const std::string& id) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  std::vector<Rule> rules = rules_;
  auto it = std::find_if(rules.begin(), rules.end(), [&](const Rule& r) { return r.id == id; });
  if (it == rules.end()) return not_found_error("no rule with id '" + id + "'");
  rules.erase(it);
  return commit_locked(file_providers_, std::move(rules), false, true);
}

EditResult CloudConfig::reorder_rules(const std::vector<std::string>& ids) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  if (ids.size() != rules_.size()) {
    return api::ApiError::invalid("ids", "'ids' must list every rule id exactly once (" +
                                             std::to_string(rules_.size()) + " rules)");
  }
  std::vector<Rule> rules;
  for (const std::string& id : ids) {
    auto it = std::find_if(rules_.begin(), rules_.end(), [&](const Rule& r) { return r.id == id; });
    const bool dup = std::any_of(rules.begin(), rules.end(), [&](const Rule& r) { return r.id == id; });
    if (it == rules_.end() || dup) {
      return api::ApiError::invalid("ids", "'ids' must list every rule id exactly once; '" + id +
                                               "' is unknown or repeated");
    }
    rules.push_back(*it);
  }
  return commit_locked(file_providers_, std::move(rules), false, true);
}

api::Parsed<ProviderConfig> CloudConfig::add_provider(const json& body) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  auto parsed = parse_provider(body);
  if (auto* e = std::get_if<api::ApiError>(&parsed)) return *e;
  ProviderConfig p = std::get<ProviderConfig>(std::move(parsed));
  for (const auto& q : file_providers_) {
    if (q.name == p.name) return conflict("name", "a provider named '" + p.name + "' exists");
  }
  std::vector<ProviderConfig> ps = file_providers_;
  ps.push_back(p);
  if (auto e = commit_locked(std::move(ps), rules_, true, false)) return *e;
  return p;
}

api::Parsed<ProviderConfig> CloudConfig::update_provider(const std::string& name, const json& body) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  auto it = std::find_if(file_providers_.begin(), file_providers_.end(),
                         [&](const ProviderConfig& p) { return p.name == name; });
  ProviderConfig base;
  const ProviderConfig* prev = nullptr;
  if (it != file_providers_.end()) {
    prev = &*it;
  } else {
    // An implicit (environment) provider becomes a file provider on its first edit.
    for (auto& p : implicit_providers(file_providers_)) {
      if (p.name == name) base = p;
    }
    if (base.name.empty()) return not_found_error("no provider named '" + name + "'");
    prev = &base;
  }
  auto parsed = parse_provider(body, prev);
  if (auto* e = std::get_if<api::ApiError>(&parsed)) return *e;
  ProviderConfig p = std::get<ProviderConfig>(std::move(parsed));
  if (p.name != name) return api::ApiError::invalid("name", "'name' cannot be changed");
  std::vector<ProviderConfig> ps = file_providers_;
  auto jt = std::find_if(ps.begin(), ps.end(), [&](const ProviderConfig& q) { return q.name == name; });
  if (jt == ps.end()) {
    ps.push_back(p);
  } else {
    *jt = p;
  }
  if (auto e = commit_locked(std::move(ps), rules_, true, false)) return *e;
  return p;
}

EditResult CloudConfig::delete_provider(const std::string& name) {
  std::lock_guard<std::mutex> lock(edit_mu_);
  std::vector<ProviderConfig> ps = file_providers_;
  auto it = std::find_if(ps.begin(), ps.end(), [&](const ProviderConfig& p) { return p.name == name; });
  if (it == ps.end()) return not_found_error("no stored provider named '" + name + "'");
  std::string users;
  for (const Rule& r : rules_) {
    bool uses = r.backend == name;
    for (const auto& f : r.fallback) uses = uses || split_fallback(f).backend == name;
    if (uses) users += (users.empty() ? "" : ", ") + r.id;
  }
  if (!users.empty()) {
    return conflict("name", "provider '" + name + "' is used by rule(s) " + users);
  }
  ps.erase(it);
  return commit_locked(std::move(ps), rules_, true, false);
}

CircuitBreaker& CloudConfig::breaker(const std::string& provider) {
  std::lock_guard<std::mutex> lock(breaker_mu_);
  auto& b = breakers_[provider];
  if (!b) b = std::make_unique<CircuitBreaker>(options_.breaker);
  return *b;
}

}  // namespace mlxm::cloud
