#include "tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "tokenizer/normalizers.h"
#include "tokenizer/regex.h"
#include "tokenizer/text.h"

namespace mlxm::tok {

namespace {

using json = nlohmann::json;

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Result<Behavior> parse_behavior(const json& j) {
  if (!j.is_string()) return invalid_argument("split behavior must be a string");
  const std::string b = j.get<std::string>();
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  return unimplemented("unsupported split behavior '" + b + "'");
}

struct Span {
  size_t b, e;
  bool match;
};

// Turns sorted, non-overlapping match ranges into spans covering [0, size).
std::vector<Span> cover(size_t size, const std::vector<std::pair<size_t, size_t>>& m, bool invert) {
  std::vector<Span> s;
  s.reserve(m.size() * 2 + 1);
  size_t prev = 0;
  for (auto [b, e] : m) {
    if (b > prev) s.push_back({prev, b, invert});
    s.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < size) s.push_back({prev, size, invert});
  return s;
}

// Applies a delimiter behaviour (Rust SplitDelimiterBehavior) and appends the resulting pieces.
void apply_behavior(const Piece& piece, const std::vector<Span>& spans, Behavior behavior,
                    std::vector<Piece>* out) {
  std::vector<std::pair<size_t, size_t>> r;
  r.reserve(spans.size());
  switch (behavior) {
    case Behavior::kRemoved:
      for (const auto& s : spans)
        if (!s.match) r.emplace_back(s.b, s.e);
      break;
    case Behavior::kIsolated:
      for (const auto& s : spans) r.emplace_back(s.b, s.e);
      break;
    case Behavior::kMergedWithPrevious: {
      bool prev_match = false;
      for (const auto& s : spans) {
        if (s.match && !prev_match && !r.empty()) {
          r.back().second = s.e;
        } else {
          r.emplace_back(s.b, s.e);
        }
        prev_match = s.match;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      bool prev_match = false;
      for (size_t k = spans.size(); k-- > 0;) {
        const auto& s = spans[k];
        if (s.match && !prev_match && !r.empty()) {
          r.back().first = s.b;
        } else {
          r.emplace_back(s.b, s.e);
        }
        prev_match = s.match;
      }
      std::reverse(r.begin(), r.end());
      break;
    }
    case Behavior::kContiguous: {
      int prev = -1;
      for (const auto& s : spans) {
        if (prev == static_cast<int>(s.match) && !r.empty()) {
          r.back().second = s.e;
        } else {
          r.emplace_back(s.b, s.e);
        }
        prev = static_cast<int>(s.match);
      }
      break;
    }
  }
  for (auto [b, e] : r) {
    if (e > b) out->push_back(Piece{piece.text.substr(b, e - b), piece.at_start && b == 0});
  }
}

// Splits every piece with `split_one(piece, &out)`.
template <typename F>
void for_each_piece(std::vector<Piece>* pieces, F&& split_one) {
  std::vector<Piece> out;
  out.reserve(pieces->size() * 2);
  for (const Piece& p : *pieces) split_one(p, &out);
  *pieces = std::move(out);
}

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::shared_ptr<const Regex> re, Behavior b, bool invert)
      : re_(std::move(re)), behavior_(b), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>* pieces) const override {
    std::vector<std::pair<size_t, size_t>> m;
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>* out) {
      m.clear();
      re_->find_all(p.text, &m);
      if (m.empty() && !invert_) {  // fast path: nothing to split
        out->push_back(p);
        return;
      }
      apply_behavior(p, cover(p.text.size(), m, invert_), behavior_, out);
    });
  }

 private:
  std::shared_ptr<const Regex> re_;
  Behavior behavior_;
  bool invert_;
};

// Splits on characters for which `pred(cp)` holds (each character is one match).
template <typename Pred>
class CharSplitPreTokenizer final : public PreTokenizer {
 public:
  CharSplitPreTokenizer(Pred pred, Behavior b) : pred_(pred), behavior_(b) {}
  void pre_tokenize(std::vector<Piece>* pieces) const override {
    std::vector<std::pair<size_t, size_t>> m;
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>* out) {
      m.clear();
      size_t i = 0;
      while (i < p.text.size()) {
        size_t n;
        const uint32_t cp = utf8_decode(p.text, i, &n);
        if (pred_(cp)) m.emplace_back(i, i + n);
        i += n;
      }
      apply_behavior(p, cover(p.text.size(), m, false), behavior_, out);
    });
  }

 private:
  Pred pred_;
  Behavior behavior_;
};

template <typename Pred>
std::unique_ptr<PreTokenizer> make_char_split(Pred pred, Behavior b) {
  return std::make_unique<CharSplitPreTokenizer<Pred>>(pred, b);
}

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::shared_ptr<const Regex> re)
      : add_prefix_space_(add_prefix_space), re_(std::move(re)) {}
  void pre_tokenize(std::vector<Piece>* pieces) const override {
    if (add_prefix_space_) {
      for (Piece& p : *pieces)
        if (p.text.empty() || p.text[0] != ' ') p.text.insert(p.text.begin(), ' ');
    }
    if (re_) {
      std::vector<std::pair<size_t, size_t>> m;
      for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>* out) {
        m.clear();
        re_->find_all(p.text, &m);
        apply_behavior(p, cover(p.text.size(), m, false), Behavior::kIsolated, out);
      });
    }
    const auto& chars = byte_level_chars();
    for (Piece& p : *pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (char c : p.text) mapped += chars[static_cast<unsigned char>(c)];
      p.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::shared_ptr<const Regex> re_;  // null when use_regex is false
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>* pieces) const override {
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>* out) {
      std::string t;
      t.reserve(p.text.size() + 8);
      for (char c : p.text) {
        if (c == ' ') {
          t += replacement_;
        } else {
          t.push_back(c);
        }
      }
      const bool starts = t.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && p.at_start))) {
        t.insert(0, replacement_);
      }
      if (!split_) {
        if (!t.empty()) out->push_back(Piece{std::move(t), p.at_start});
        return;
      }
      std::vector<std::pair<size_t, size_t>> m;
      for (size_t pos = t.find(replacement_); pos != std::string::npos;
           pos = t.find(replacement_, pos + replacement_.size())) {
        m.emplace_back(pos, pos + replacement_.size());
      }
      Piece np{std::move(t), p.at_start};
      apply_behavior(np, cover(np.text.size(), m, false), Behavior::kMergedWithNext, out);
    });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> s) : seq_(std::move(s)) {}
  void pre_tokenize(std::vector<Piece>* pieces) const override {
    for (const auto& p : seq_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> seq_;
};

}  // namespace

std::shared_ptr<const Regex> byte_level_split_fast_path(const json& j) {
  if (!j.is_object() || j.value("type", std::string()) != "Sequence") return nullptr;
  const json& seq = j.value("pretokenizers", json());
  if (!seq.is_array() || seq.size() != 2) return nullptr;
  const json& sp = seq[0];
  const json& bl = seq[1];
  if (!sp.is_object() || !bl.is_object() || sp.value("type", std::string()) != "Split" ||
      bl.value("type", std::string()) != "ByteLevel") {
    return nullptr;
  }
  if (sp.value("behavior", std::string()) != "Isolated" || sp.value("invert", false) ||
      !sp.contains("pattern") || !sp["pattern"].is_object() || !sp["pattern"].contains("Regex")) {
    return nullptr;
  }
  if (bl.value("add_prefix_space", true) || bl.value("use_regex", true)) return nullptr;
  auto re = make_pattern(sp["pattern"]);
  return re.ok() ? std::move(re).value() : nullptr;
}

Result<std::unique_ptr<PreTokenizer>> make_pre_tokenizer(const json& j) {
  if (j.is_null()) return std::unique_ptr<PreTokenizer>();
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return invalid_argument("pre_tokenizer must be an object with a \"type\"");
  }
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) {
      return invalid_argument("Sequence pre_tokenizer needs an array \"pretokenizers\"");
    }
    std::vector<std::unique_ptr<PreTokenizer>> seq;
    for (const auto& c : j["pretokenizers"]) {
      MLXM_ASSIGN_OR_RETURN(auto p, make_pre_tokenizer(c));
      if (p) seq.push_back(std::move(p));
    }
    return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(seq)));
  }
  if (type == "Split") {
    MLXM_ASSIGN_OR_RETURN(auto re, make_pattern(j.value("pattern", json())));
    MLXM_ASSIGN_OR_RETURN(Behavior b, parse_behavior(j.value("behavior", json("Isolated"))));
    return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(re), b, j.value("invert", false)));
  }
  if (type == "ByteLevel") {
    std::shared_ptr<const Regex> re;
    if (j.value("use_regex", true)) {
      MLXM_ASSIGN_OR_RETURN(re, Regex::compile(kGpt2Pattern));
    }
    return std::unique_ptr<PreTokenizer>(new ByteLevelPreTokenizer(j.value("add_prefix_space", true), std::move(re)));
  }
  if (type == "Metaspace") {
    const std::string repl = j.value("replacement", std::string("\xE2\x96\x81"));
    PrependScheme scheme = j.value("add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
      const std::string s = j["prepend_scheme"].get<std::string>();
      if (s == "always") {
        scheme = PrependScheme::kAlways;
      } else if (s == "first") {
        scheme = PrependScheme::kFirst;
      } else if (s == "never") {
        scheme = PrependScheme::kNever;
      } else {
        return invalid_argument("Metaspace: unknown prepend_scheme '" + s + "'");
      }
    }
    if (repl.empty()) return invalid_argument("Metaspace: empty replacement");
    return std::unique_ptr<PreTokenizer>(new MetaspacePreTokenizer(repl, scheme, j.value("split", true)));
  }
  if (type == "Digits") {
    const bool individual = j.value("individual_digits", false);
    return std::unique_ptr<PreTokenizer>(make_char_split(
        [](uint32_t cp) { return is_numeric(cp); },
        individual ? Behavior::kIsolated : Behavior::kContiguous));
  }
  if (type == "Punctuation") {
    MLXM_ASSIGN_OR_RETURN(Behavior b, parse_behavior(j.value("behavior", json("Isolated"))));
    return std::unique_ptr<PreTokenizer>(make_char_split([](uint32_t cp) { return is_punctuation(cp); }, b));
  }
  if (type == "Whitespace") {
    MLXM_ASSIGN_OR_RETURN(auto re, Regex::compile(
        R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}\s]+)"));
    return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(re), Behavior::kRemoved, true));
  }
  if (type == "WhitespaceSplit") {
    return std::unique_ptr<PreTokenizer>(make_char_split([](uint32_t cp) { return is_white_space(cp); }, Behavior::kRemoved));
  }
  return unimplemented("unsupported pre_tokenizer type '" + type + "'");
}

}  // namespace mlxm::tok
