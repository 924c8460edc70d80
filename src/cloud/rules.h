// Routing rules: an ordered list of {pattern, match: exact|prefix|regex, backend,
// backend_model, fallback: [backends...], enabled}. The first enabled rule whose pattern
// matches the requested model decides its backend chain: the rule's backend (serving
// backend_model, or the requested name when empty), then each fallback entry ("name" or
// "name:model"; without a model, the requested name). Unmatched models go to the local pool.
// Regexes are RE2 (linear time, no catastrophic backtracking) and must match the whole name.
// Thread-safety: a RuleSet is immutable after compile(); share it through shared_ptr<const>.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/schema/api_error.h"
#include "api/schema/openai_request.h"  // Parsed<T>

namespace re2 {
class RE2;
}

namespace mlxm::cloud {

enum class MatchKind { kExact, kPrefix, kRegex };
const char* match_kind_name(MatchKind m);  // "exact", "prefix", "regex"

struct Rule {
  std::string id;  // stable id for PUT/DELETE ("r_" + 12 hex characters)
  std::string pattern;
  MatchKind match = MatchKind::kExact;
  std::string backend;        // "local" or a provider name
  std::string backend_model;  // the model name at the backend ("" = the requested name)
  std::vector<std::string> fallback;  // "backend" or "backend:model", tried in order
  bool enabled = true;
};

struct BackendTarget {
  std::string backend;  // "local" or a provider name
  std::string model;    // the model name to ask that backend for
};

struct Resolution {
  int rule_index = -1;  // -1: no rule matched (the local pool serves it)
  std::string rule_id;
  std::vector<BackendTarget> chain;  // never empty
};

std::string new_rule_id();

// Validates a rule from the API or the file (400s naming the field: pattern, match, backend,
// backend_model, fallback, enabled; a bad regex names 'pattern' with RE2's message).
// `known_backend` says whether a backend name exists ("local" always does).
api::Parsed<Rule> parse_rule(const nlohmann::json& body,
                             const std::function<bool(const std::string&)>& known_backend);
nlohmann::json rule_json(const Rule& r);

class RuleSet {
 public:
  RuleSet() = default;
  ~RuleSet();
  RuleSet(RuleSet&&) noexcept;
  RuleSet& operator=(RuleSet&&) noexcept;

  // REQUIRES: every rule passed parse_rule (regexes compile).
  static RuleSet compile(std::vector<Rule> rules);

  Resolution resolve(const std::string& model) const;
  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::vector<Rule> rules_;
  std::vector<std::unique_ptr<re2::RE2>> regex_;  // per rule; null unless match == kRegex
};

// "name:model" -> {name, model}; "name" -> {name, ""}.
BackendTarget split_fallback(const std::string& entry);

}  // namespace mlxm::cloud
