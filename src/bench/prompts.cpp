#include "bench/prompts.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

namespace mlxm::bench {

using nlohmann::json;

namespace {

// An instruction followed by context text; repeated as needed and cut to size in tokens.
constexpr const char* kInstruction =
    "Explain, step by step and in plain language, how a city water system keeps tap water "
    "safe to drink, then summarize the main risks in a short list. ";
constexpr const char* kContext =
    "Raw water is drawn from rivers, lakes or wells and screened to remove debris. Coagulants "
    "make fine particles clump together so that they settle in large basins. The clearer water "
    "then passes through beds of sand, gravel and activated carbon that trap what is left. "
    "Disinfection with chlorine, chloramine, ozone or ultraviolet light kills bacteria and "
    "viruses. Operators test samples every hour for turbidity, pH, residual chlorine and "
    "microbes, and the treated water is pumped into storage tanks and a network of pipes that "
    "keeps it under pressure so that nothing from outside can leak in. ";

std::string base_text(int min_words) {
  std::string s = kInstruction;
  while (static_cast<int>(std::count(s.begin(), s.end(), ' ')) < min_words) s += kContext;
  return s;
}

std::optional<std::vector<int64_t>> tokenize(HttpClient& c, const std::string& base,
                                             const std::string& model, const std::string& text,
                                             const Headers& auth, std::string* why) {
  json body = {{"model", model}, {"prompt", text}, {"add_special_tokens", false}};
  HttpResponse r = c.post(join_url(base, "/tokenize"), body.dump(), auth, 30000);
  if (!r.ok()) {
    *why = r.error.empty() ? "/tokenize answered HTTP " + std::to_string(r.status) : r.error;
    return std::nullopt;
  }
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("tokens") || !j["tokens"].is_array()) {
    *why = "/tokenize answered no token list";
    return std::nullopt;
  }
  std::vector<int64_t> ids;
  for (const auto& t : j["tokens"]) ids.push_back(t.get<int64_t>());
  return ids;
}

std::optional<std::string> detokenize(HttpClient& c, const std::string& base,
                                      const std::string& model, const std::vector<int64_t>& ids,
                                      const Headers& auth) {
  json body = {{"model", model}, {"tokens", ids}};
  HttpResponse r = c.post(join_url(base, "/detokenize"), body.dump(), auth, 30000);
  if (!r.ok()) return std::nullopt;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("prompt") || !j["prompt"].is_string()) return std::nullopt;
  return j["prompt"].get<std::string>();
}

// Roughly 0.75 English words per token: the first n words for n = target * 3 / 4.
std::string estimate_text(const std::string& text, int target) {
  const int words = std::max(1, target * 3 / 4);
  std::istringstream in(text);
  std::string w, out;
  for (int i = 0; i < words && in >> w; ++i) out += (i ? " " : "") + w;
  return out;
}

}  // namespace

Result<int> prompt_target_tokens(const std::string& name) {
  if (name == "short") return 16;
  if (name == "medium") return 50;
  if (name == "long") return 1000;
  return invalid_argument("--prompt: expected short, medium, long or @FILE, got '" + name + "'");
}

Result<Prompt> build_prompt(HttpClient& client, const std::string& base_url,
                            const std::string& model, const std::string& name,
                            const Headers& auth) {
  Prompt p;
  p.name = name;
  std::string why;
  if (!name.empty() && name[0] == '@') {
    std::ifstream in(name.substr(1), std::ios::binary);
    if (!in) return invalid_argument("--prompt " + name + ": cannot read the file");
    std::ostringstream ss;
    ss << in.rdbuf();
    p.text = ss.str();
    if (p.text.empty()) return invalid_argument("--prompt " + name + ": the file is empty");
    if (auto ids = tokenize(client, base_url, model, p.text, auth, &why)) {
      p.measured_tokens = static_cast<int>(ids->size());
      p.sized_by_server = true;
    } else {
      p.note = "token count unknown (" + why + ")";
    }
    return p;
  }
  MLXM_ASSIGN_OR_RETURN(p.target_tokens, prompt_target_tokens(name));
  const std::string text = base_text(p.target_tokens * 2 + 8);
  auto ids = tokenize(client, base_url, model, text, auth, &why);
  if (ids && static_cast<int>(ids->size()) >= p.target_tokens) {
    // Cut to the target and re-measure: merges at the cut can move the count by one or two.
    int best_diff = 1 << 30;
    for (int n = p.target_tokens; n >= std::max(1, p.target_tokens - 4); --n) {
      std::vector<int64_t> prefix(ids->begin(), ids->begin() + n);
      auto cut = detokenize(client, base_url, model, prefix, auth);
      if (!cut) break;
      auto again = tokenize(client, base_url, model, *cut, auth, &why);
      if (!again) break;
      const int diff = std::abs(static_cast<int>(again->size()) - p.target_tokens);
      if (diff < best_diff) {
        best_diff = diff;
        p.text = *cut;
        p.measured_tokens = static_cast<int>(again->size());
        p.sized_by_server = true;
      }
      if (diff == 0) break;
    }
  }
  if (!p.sized_by_server) {
    p.text = estimate_text(text, p.target_tokens);
    p.note = "sized by estimate (" + (why.empty() ? std::string("/detokenize failed") : why) + ")";
  }
  return p;
}

}  // namespace mlxm::bench
