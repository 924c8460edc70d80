#include "grammar/gbnf.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/text.h"

namespace mlxm::grammar {
namespace {

constexpr int kMaxDepth = 64;
constexpr int kMaxRepeat = 1000;
constexpr size_t kMaxSymbols = 200000;  // symbols written out by repetitions, all together
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

using Range = std::pair<uint32_t, uint32_t>;  // code points, inclusive
using tok::utf8_append;

// The UTF-8 encodings of the code points lo..hi (surrogates left out) as sequences of byte
// ranges: the usual split at encoding-length and continuation-byte boundaries.
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<std::vector<Range>>* out) {
  if (lo > hi) return;
  if (lo <= 0xDFFF && hi >= 0xD800) {
    if (lo < 0xD800) utf8_sequences(lo, 0xD7FF, out);
    if (hi > 0xDFFF) utf8_sequences(0xE000, hi, out);
    return;
  }
  for (uint32_t max : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= max && hi > max) {
      utf8_sequences(lo, max, out);
      utf8_sequences(max + 1, hi, out);
      return;
    }
  }
  const int n = hi < 0x80 ? 1 : hi < 0x800 ? 2 : hi < 0x10000 ? 3 : 4;
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_sequences(lo, lo | m, out);
        utf8_sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_sequences(lo, (hi & ~m) - 1, out);
        utf8_sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::string a, b;
  utf8_append(&a, lo);
  utf8_append(&b, hi);
  std::vector<Range> seq;
  for (size_t k = 0; k < a.size(); ++k) {
    seq.emplace_back(static_cast<unsigned char>(a[k]), static_cast<unsigned char>(b[k]));
  }
  out->push_back(std::move(seq));
}

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view text) : t_(text), g_(std::make_shared<Grammar>()) {}

  Result<std::shared_ptr<const Grammar>> run() {
    if (t_.size() > kMaxGbnfBytes) {
      return invalid_argument("the grammar is longer than " + std::to_string(kMaxGbnfBytes) +
                              " bytes");
    }
    skip_space();
    if (i_ >= t_.size()) return invalid_argument("the grammar is empty");
    while (i_ < t_.size()) {
      const size_t at = i_;
      MLXM_ASSIGN_OR_RETURN(std::string name, parse_name("a rule name"));
      skip_space();
      if (t_.substr(i_, 3) != "::=") {
        return error("expected '::=' after the rule name '" + name + "'");
      }
      i_ += 3;
      std::vector<Seq> alts;
      MLXM_RETURN_IF_ERROR(parse_alternatives(0, &alts));
      const int32_t id = rule_id(name, at);
      if (defined_[id]) {
        i_ = at;
        return error("the rule '" + name + "' is defined twice");
      }
      defined_[id] = true;
      for (Seq& s : alts) g_->add_alt(id, std::move(s));
      skip_space();
    }
    for (const auto& [name, id] : ids_) {
      if (!defined_[id]) {
        i_ = first_use_[id];
        return error("the rule '" + name + "' is used but never defined");
      }
    }
    auto root = ids_.find("root");
    if (root == ids_.end()) return invalid_argument("the grammar has no 'root' rule");
    g_->set_root(root->second);
    MLXM_RETURN_IF_ERROR(g_->finalize());
    return std::shared_ptr<const Grammar>(std::move(g_));
  }

 private:
  Status error(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t k = 0; k < i_ && k < t_.size(); ++k) {
      if (t_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return invalid_argument("line " + std::to_string(line) + ", column " + std::to_string(col) +
                            ": " + what);
  }

  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
  }

  // Spaces, newlines and comments.
  void skip_space() {
    while (i_ < t_.size()) {
      const char c = t_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i_;
      } else if (c == '#') {
        while (i_ < t_.size() && t_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  // At `name ::=` (the next rule starts here).
  bool at_rule_start() const {
    size_t k = i_;
    while (k < t_.size() && name_char(t_[k])) ++k;
    if (k == i_) return false;
    while (k < t_.size() && (t_[k] == ' ' || t_[k] == '\t' || t_[k] == '\n' || t_[k] == '\r')) ++k;
    return t_.substr(k, 3) == "::=";
  }

  Result<std::string> parse_name(const char* what) {
    const size_t start = i_;
    while (i_ < t_.size() && name_char(t_[i_])) ++i_;
    if (i_ == start) {
      return error(std::string("expected ") + what +
                   (i_ < t_.size() ? std::string(", found '") + t_[i_] + "'" : ", found the end"));
    }
    return std::string(t_.substr(start, i_ - start));
  }

  int32_t rule_id(const std::string& name, size_t at) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    const int32_t id = g_->add_rule(name);
    ids_.emplace(name, id);
    defined_.emplace(id, false);
    first_use_.emplace(id, at);
    return id;
  }

  Status parse_alternatives(int depth, std::vector<Seq>* alts) {
    if (depth > kMaxDepth) return error("groups are nested too deeply");
    for (;;) {
      Seq seq;
      MLXM_RETURN_IF_ERROR(parse_sequence(depth, &seq));
      alts->push_back(std::move(seq));
      skip_space();
      if (i_ < t_.size() && t_[i_] == '|') {
        ++i_;
        continue;
      }
      return {};
    }
  }

  Status parse_sequence(int depth, Seq* seq) {
    for (;;) {
      skip_space();
      if (i_ >= t_.size() || t_[i_] == '|' || t_[i_] == ')' || at_rule_start()) return {};
      Seq item;
      const char c = t_[i_];
      if (c == '"') {
        MLXM_ASSIGN_OR_RETURN(std::string bytes, parse_literal());
        item = lit(bytes);
      } else if (c == '[') {
        MLXM_ASSIGN_OR_RETURN(Sym s, parse_class());
        item.push_back(s);
      } else if (c == '.') {
        ++i_;
        item.push_back(ref(any_char(ByteSet())));
      } else if (c == '(') {
        ++i_;
        std::vector<Seq> alts;
        MLXM_RETURN_IF_ERROR(parse_alternatives(depth + 1, &alts));
        skip_space();
        if (i_ >= t_.size() || t_[i_] != ')') return error("expected ')' to close the group");
        ++i_;
        item.push_back(ref(g_->add_rule("group", std::move(alts))));
      } else if (name_char(c)) {
        const size_t at = i_;
        MLXM_ASSIGN_OR_RETURN(std::string name, parse_name("a rule name"));
        item.push_back(ref(rule_id(name, at)));
      } else {
        return error(std::string("unexpected '") + c + "'");
      }
      MLXM_RETURN_IF_ERROR(parse_postfix(&item));
      seq->insert(seq->end(), item.begin(), item.end());
    }
  }

  Status parse_postfix(Seq* item) {
    for (;;) {
      size_t k = i_;
      while (k < t_.size() && (t_[k] == ' ' || t_[k] == '\t')) ++k;
      if (k >= t_.size()) return {};
      const char c = t_[k];
      int lo = 0, hi = -1;
      if (c == '*') {
        lo = 0, hi = -1;
        i_ = k + 1;
      } else if (c == '+') {
        lo = 1, hi = -1;
        i_ = k + 1;
      } else if (c == '?') {
        lo = 0, hi = 1;
        i_ = k + 1;
      } else if (c == '{') {
        i_ = k + 1;
        MLXM_ASSIGN_OR_RETURN(lo, parse_count());
        hi = lo;
        if (i_ < t_.size() && t_[i_] == ',') {
          ++i_;
          hi = -1;
          if (i_ < t_.size() && t_[i_] != '}') {
            MLXM_ASSIGN_OR_RETURN(hi, parse_count());
          }
        }
        if (i_ >= t_.size() || t_[i_] != '}') return error("expected '}' to close the repetition");
        ++i_;
        if (hi >= 0 && hi < lo) return error("a repetition's maximum is below its minimum");
      } else {
        return {};
      }
      symbols_ += item->size() * static_cast<size_t>(std::max({lo, hi, 1}));
      if (symbols_ > kMaxSymbols) return error("the grammar's repetitions are too large");
      *item = {ref(g_->repeat(std::move(*item), lo, hi))};
    }
  }

  Result<int> parse_count() {
    const size_t start = i_;
    int v = 0;
    while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') {
      v = v * 10 + (t_[i_++] - '0');
      if (v > kMaxRepeat) return error("a repetition count above " + std::to_string(kMaxRepeat));
    }
    if (i_ == start) return error("expected a number in the repetition");
    return v;
  }

  // One code point at i_ (in a literal or a class): an escape or a UTF-8 character.
  Result<uint32_t> parse_char() {
    if (i_ >= t_.size()) return error("unexpected end of the grammar");
    const auto c = static_cast<unsigned char>(t_[i_]);
    if (c == '\\') {
      ++i_;
      if (i_ >= t_.size()) return error("unexpected end after '\\'");
      const char e = t_[i_++];
      switch (e) {
        case 'n': return uint32_t{'\n'};
        case 'r': return uint32_t{'\r'};
        case 't': return uint32_t{'\t'};
        case '\\': case '"': case '\'': case '[': case ']': case '-': case '^':
          return static_cast<uint32_t>(e);
        case 'x': return parse_hex(2);
        case 'u': return parse_hex(4);
        case 'U': return parse_hex(8);
        default:
          --i_;
          return error(std::string("unknown escape '\\") + e + "'");
      }
    }
    if (c < 0x80) {
      ++i_;
      return uint32_t{c};
    }
    const int n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i_ + static_cast<size_t>(n) > t_.size()) return error("invalid UTF-8");
    uint32_t cp = c & (0x7F >> n);
    for (int k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(t_[i_ + static_cast<size_t>(k)]);
      if ((b & 0xC0) != 0x80) return error("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    i_ += static_cast<size_t>(n);
    return cp;
  }

  Result<uint32_t> parse_hex(int digits) {
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      if (i_ >= t_.size()) return error("expected a hex digit");
      const char h = t_[i_];
      const int d = h >= '0' && h <= '9' ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (d < 0) return error("expected a hex digit");
      v = v * 16 + static_cast<uint32_t>(d);
      ++i_;
    }
    if (v > kMaxCodePoint || (v >= 0xD800 && v <= 0xDFFF)) {
      return error("the escape is not a Unicode scalar value");
    }
    return v;
  }

  Result<std::string> parse_literal() {
    ++i_;  // the opening quote
    std::string out;
    for (;;) {
      if (i_ >= t_.size() || t_[i_] == '\n') return error("unterminated string literal");
      if (t_[i_] == '"') {
        ++i_;
        return out;
      }
      MLXM_ASSIGN_OR_RETURN(uint32_t cp, parse_char());
      utf8_append(&out, cp);
    }
  }

  Result<Sym> parse_class() {
    const size_t start = i_;
    ++i_;  // '['
    bool negate = false;
    if (i_ < t_.size() && t_[i_] == '^') {
      negate = true;
      ++i_;
    }
    std::vector<Range> ranges;
    for (;;) {
      if (i_ >= t_.size() || t_[i_] == '\n') {
        i_ = start;
        return error("unterminated character class");
      }
      if (t_[i_] == ']') {
        ++i_;
        break;
      }
      MLXM_ASSIGN_OR_RETURN(uint32_t lo, parse_char());
      uint32_t hi = lo;
      if (i_ + 1 < t_.size() && t_[i_] == '-' && t_[i_ + 1] != ']') {
        ++i_;
        MLXM_ASSIGN_OR_RETURN(hi, parse_char());
        if (hi < lo) return error("a character range runs backwards");
      }
      ranges.emplace_back(lo, hi);
    }
    if (ranges.empty() && !negate) return error("an empty character class matches nothing");
    std::sort(ranges.begin(), ranges.end());
    if (negate) {
      bool ascii_only = true;
      ByteSet excluded;
      for (const Range& r : ranges) {
        if (r.second >= 0x80) {
          ascii_only = false;
          break;
        }
        for (uint32_t c = r.first; c <= r.second; ++c) excluded.set(c);
      }
      // The common [^"\\\n]: one shared character rule (and the token masks' fast path).
      if (ascii_only) return ref(any_char(excluded));
      std::vector<Range> inverse;
      uint32_t next = 0;
      for (const Range& r : ranges) {
        if (r.first > next) inverse.emplace_back(next, r.first - 1);
        next = std::max(next, r.second + 1);
      }
      if (next <= kMaxCodePoint) inverse.emplace_back(next, kMaxCodePoint);
      ranges = std::move(inverse);
    }
    std::vector<std::vector<Range>> seqs;
    for (const Range& r : ranges) utf8_sequences(r.first, r.second, &seqs);
    ByteSet single;
    std::vector<Seq> alts;
    for (const auto& s : seqs) {
      if (s.size() == 1) {
        for (uint32_t b = s[0].first; b <= s[0].second; ++b) single.set(b);
        continue;
      }
      Seq alt;
      for (const Range& r : s) {
        ByteSet b;
        for (uint32_t x = r.first; x <= r.second; ++x) b.set(x);
        alt.push_back(byte_set(b));
      }
      alts.push_back(std::move(alt));
    }
    if (alts.empty()) {
      if (single.none()) return error("the character class matches nothing");
      return byte_set(single);
    }
    if (single.any()) alts.insert(alts.begin(), Seq{byte_set(single)});
    return ref(g_->add_rule("class", std::move(alts)));
  }

  int32_t any_char(const ByteSet& excluded) {
    const std::string key = excluded.to_string();
    auto it = char_rules_.find(key);
    if (it != char_rules_.end()) return it->second;
    const int32_t r = g_->utf8_char_except(excluded);
    char_rules_.emplace(key, r);
    return r;
  }

  std::string_view t_;
  size_t i_ = 0;
  std::shared_ptr<Grammar> g_;
  std::map<std::string, int32_t> ids_;
  std::map<int32_t, bool> defined_;     // by rule id, for named rules
  std::map<int32_t, size_t> first_use_;
  std::map<std::string, int32_t> char_rules_;
  size_t symbols_ = 0;
};

}  // namespace

Result<std::shared_ptr<const Grammar>> parse_gbnf(std::string_view text) {
  return GbnfParser(text).run();
}

}  // namespace mlxm::grammar
