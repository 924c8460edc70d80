#include "cloud/rules.h"

#include <re2/re2.h>

#include <random>

#include "cloud/provider.h"
#include "core/check.h"

namespace mlxm::cloud {

using nlohmann::json;

namespace {

api::ApiError bad(const std::string& field, const std::string& message) {
  return api::ApiError::invalid(field, message);
}

constexpr size_t kMaxPattern = 1024;

RE2::Options re2_options() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(1 << 20);  // bounds the compiled program of hostile patterns
  return o;
}

}  // namespace

const char* match_kind_name(MatchKind m) {
  switch (m) {
    case MatchKind::kExact: return "exact";
    case MatchKind::kPrefix: return "prefix";
    case MatchKind::kRegex: return "regex";
  }
  return "exact";
}

std::string new_rule_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id = "r_";
  uint64_t v = rng();
  for (int i = 0; i < 12; ++i, v >>= 4) id.push_back(kHex[v & 15]);
  return id;
}

BackendTarget split_fallback(const std::string& entry) {
  const size_t colon = entry.find(':');
  if (colon == std::string::npos) return {entry, ""};
  return {entry.substr(0, colon), entry.substr(colon + 1)};
}

api::Parsed<Rule> parse_rule(const json& b, const std::function<bool(const std::string&)>& known) {
  if (!b.is_object()) return bad("", "a rule must be a JSON object");
  for (auto it = b.begin(); it != b.end(); ++it) {
    static const char* kKnown[] = {"id", "pattern", "match", "backend", "backend_model",
                                   "fallback", "enabled"};
    bool ok = false;
    for (const char* k : kKnown) ok = ok || it.key() == k;
    if (!ok) return bad(it.key(), "unknown field '" + it.key() + "'");
  }
  Rule r;
  if (b.contains("id") && b["id"].is_string()) r.id = b["id"].get<std::string>();
  if (!b.contains("pattern") || !b["pattern"].is_string() || b["pattern"].get<std::string>().empty()) {
    return bad("pattern", "'pattern' is required (a non-empty string)");
  }
  r.pattern = b["pattern"].get<std::string>();
  if (r.pattern.size() > kMaxPattern) return bad("pattern", "'pattern' is longer than 1024 characters");
  const std::string match = b.contains("match") ? (b["match"].is_string() ? b["match"].get<std::string>() : "?")
                                                : "exact";
  if (match == "exact") {
    r.match = MatchKind::kExact;
  } else if (match == "prefix") {
    r.match = MatchKind::kPrefix;
  } else if (match == "regex") {
    r.match = MatchKind::kRegex;
    RE2 re(r.pattern, re2_options());
    if (!re.ok()) return bad("pattern", "'pattern' is not a valid regular expression: " + re.error());
  } else {
    return bad("match", "'match' must be exact, prefix or regex");
  }
  if (!b.contains("backend") || !b["backend"].is_string() || b["backend"].get<std::string>().empty()) {
    return bad("backend", "'backend' is required (\"local\" or a provider name)");
  }
  r.backend = b["backend"].get<std::string>();
  if (r.backend != kLocalBackend && !known(r.backend)) {
    return bad("backend", "'backend' names no provider: '" + r.backend + "'");
  }
  if (b.contains("backend_model") && !b["backend_model"].is_null()) {
    if (!b["backend_model"].is_string()) return bad("backend_model", "'backend_model' must be a string");
    r.backend_model = b["backend_model"].get<std::string>();
  }
  if (b.contains("fallback") && !b["fallback"].is_null()) {
    if (!b["fallback"].is_array()) return bad("fallback", "'fallback' must be an array of backend names");
    for (const auto& f : b["fallback"]) {
      if (!f.is_string() || f.get<std::string>().empty()) {
        return bad("fallback", "'fallback' entries must be backend names (\"name\" or \"name:model\")");
      }
      const std::string entry = f.get<std::string>();
      const std::string name = split_fallback(entry).backend;
      if (name != kLocalBackend && !known(name)) {
        return bad("fallback", "'fallback' names no provider: '" + name + "'");
      }
      r.fallback.push_back(entry);
    }
    if (r.fallback.size() > 8) return bad("fallback", "'fallback' has more than 8 entries");
  }
  if (b.contains("enabled")) {
    if (!b["enabled"].is_boolean()) return bad("enabled", "'enabled' must be true or false");
    r.enabled = b["enabled"].get<bool>();
  }
  return r;
}

json rule_json(const Rule& r) {
  return {{"id", r.id},
          {"pattern", r.pattern},
          {"match", match_kind_name(r.match)},
          {"backend", r.backend},
          {"backend_model", r.backend_model.empty() ? json(nullptr) : json(r.backend_model)},
          {"fallback", r.fallback},
          {"enabled", r.enabled}};
}

RuleSet::~RuleSet() = default;
RuleSet::RuleSet(RuleSet&&) noexcept = default;
RuleSet& RuleSet::operator=(RuleSet&&) noexcept = default;

RuleSet RuleSet::compile(std::vector<Rule> rules) {
  RuleSet s;
  for (const Rule& r : rules) {
    std::unique_ptr<re2::RE2> re;
    if (r.match == MatchKind::kRegex) {
      re = std::make_unique<re2::RE2>(r.pattern, re2_options());
      MLXM_CHECK(re->ok());
    }
    s.regex_.push_back(std::move(re));
  }
  s.rules_ = std::move(rules);
  return s;
}

Resolution RuleSet::resolve(const std::string& model) const {
  Resolution res;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Rule& r = rules_[i];
    if (!r.enabled) continue;
    bool hit = false;
    switch (r.match) {
      case MatchKind::kExact: hit = model == r.pattern; break;
      case MatchKind::kPrefix: hit = model.rfind(r.pattern, 0) == 0; break;
      case MatchKind::kRegex: hit = re2::RE2::FullMatch(model, *regex_[i]); break;
    }
    if (!hit) continue;
    res.rule_index = static_cast<int>(i);
    res.rule_id = r.id;
    res.chain.push_back({r.backend, r.backend_model.empty() ? model : r.backend_model});
    for (const std::string& f : r.fallback) {
      BackendTarget t = split_fallback(f);
      if (t.model.empty()) t.model = model;
      res.chain.push_back(std::move(t));
    }
    return res;
  }
  res.chain.push_back({kLocalBackend, model});
  return res;
}

}  // namespace mlxm::cloud
