#include "grammar/grammar.h"

#include <functional>

#include "core/check.h"

namespace mlxm::grammar {

Sym ref(int32_t rule) {
  Sym s;
  s.is_rule = true;
  s.rule = rule;
  return s;
}

Sym byte_set(ByteSet bytes) {
  Sym s;
  s.bytes = bytes;
  return s;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads one (possibly escaped) byte of a class spec at *i.
int class_byte(std::string_view spec, size_t* i) {
  MLXM_CHECK(*i < spec.size());
  const char c = spec[(*i)++];
  if (c != '\\') return static_cast<unsigned char>(c);
  MLXM_CHECK(*i < spec.size());
  const char e = spec[(*i)++];
  switch (e) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'x': {
      MLXM_CHECK(*i + 2 <= spec.size());
      const int hi = hex_value(spec[*i]), lo = hex_value(spec[*i + 1]);
      MLXM_CHECK(hi >= 0 && lo >= 0);
      *i += 2;
      return hi * 16 + lo;
    }
    default: return static_cast<unsigned char>(e);
  }
}

}  // namespace

Sym cls(std::string_view spec) {
  ByteSet set;
  size_t i = 0;
  bool negate = false;
  if (!spec.empty() && spec[0] == '^') {
    negate = true;
    i = 1;
  }
  while (i < spec.size()) {
    const int lo = class_byte(spec, &i);
    int hi = lo;
    if (i + 1 < spec.size() && spec[i] == '-') {
      ++i;
      hi = class_byte(spec, &i);
    }
    MLXM_CHECK(lo <= hi);
    for (int b = lo; b <= hi; ++b) set.set(static_cast<size_t>(b));
  }
  if (negate) set.flip();
  return byte_set(set);
}

Seq lit(std::string_view text) {
  Seq s;
  s.reserve(text.size());
  for (unsigned char c : text) {
    ByteSet b;
    b.set(c);
    s.push_back(byte_set(b));
  }
  return s;
}

Seq cat(std::initializer_list<Seq> parts) {
  Seq out;
  for (const Seq& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

int32_t Grammar::add_rule(std::string name) {
  MLXM_CHECK(!finalized_);
  names_.push_back(std::move(name));
  build_.emplace_back();
  return static_cast<int32_t>(names_.size()) - 1;
}

int32_t Grammar::add_rule(std::string name, std::vector<Seq> alts) {
  const int32_t r = add_rule(std::move(name));
  build_[r] = std::move(alts);
  return r;
}

void Grammar::add_alt(int32_t rule, Seq seq) {
  MLXM_CHECK(!finalized_ && rule >= 0 && rule < n_rules());
  build_[rule].push_back(std::move(seq));
}

int32_t Grammar::optional(Seq seq) { return add_rule("opt", {std::move(seq), {}}); }

int32_t Grammar::star(Seq seq) {
  const int32_t r = add_rule("star");
  seq.push_back(ref(r));
  add_alt(r, std::move(seq));
  add_alt(r, {});
  return r;
}

int32_t Grammar::repeat(Seq seq, int min, int max) {
  MLXM_CHECK(min >= 0 && (max < 0 || max >= min));
  Seq body;
  for (int i = 0; i < min; ++i) body.insert(body.end(), seq.begin(), seq.end());
  if (max < 0) {
    body.push_back(ref(star(seq)));
  } else if (max > min) {
    // tail_k ::= "" | seq tail_{k-1}: at most k more copies.
    int32_t tail = -1;
    for (int k = 1; k <= max - min; ++k) {
      Seq more = seq;
      if (tail >= 0) more.push_back(ref(tail));
      tail = add_rule("rep", {std::move(more), {}});
    }
    body.push_back(ref(tail));
  }
  return add_rule("repeat", {std::move(body)});
}

int32_t Grammar::utf8_char_except(ByteSet ascii_excluded) {
  ByteSet ascii;
  for (int b = 0; b < 0x80; ++b) ascii.set(static_cast<size_t>(b));
  ascii &= ~ascii_excluded;
  const Sym cont = cls("\\x80-\\xbf");
  ByteSet excluded;
  for (int b = 0; b < 0x80; ++b) excluded.set(static_cast<size_t>(b), !ascii.test(static_cast<size_t>(b)));
  const int32_t r = add_rule("char", {
                              {byte_set(ascii)},
                              {cls("\\xc2-\\xdf"), cont},
                              {cls("\\xe0"), cls("\\xa0-\\xbf"), cont},
                              {cls("\\xe1-\\xec\\xee-\\xef"), cont, cont},
                              {cls("\\xed"), cls("\\x80-\\x9f"), cont},
                              {cls("\\xf0"), cls("\\x90-\\xbf"), cont, cont},
                              {cls("\\xf1-\\xf3"), cont, cont, cont},
                              {cls("\\xf4"), cls("\\x80-\\x8f"), cont, cont},
                          });
  utf8_char_rules_.push_back({r, excluded});
  return r;
}

Status Grammar::finalize() {
  if (finalized_) return {};
  if (root_ < 0 || root_ >= n_rules()) return invalid_argument("the grammar has no root rule");
  const int32_t n = n_rules();
  for (int32_t r = 0; r < n; ++r) {
    if (build_[r].empty()) {
      return invalid_argument("grammar rule '" + names_[r] + "' has no alternatives");
    }
    for (const Seq& alt : build_[r]) {
      for (const Sym& s : alt) {
        if (s.is_rule && (s.rule < 0 || s.rule >= n)) {
          return invalid_argument("grammar rule '" + names_[r] + "' refers to an undefined rule");
        }
      }
    }
  }
  // Nullable rules (fixpoint), then the "leftmost reference" graph must be acyclic.
  std::vector<bool> nullable(n, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t r = 0; r < n; ++r) {
      if (nullable[r]) continue;
      for (const Seq& alt : build_[r]) {
        bool all = true;
        for (const Sym& s : alt) all = all && s.is_rule && nullable[s.rule];
        if (all) {
          nullable[r] = true;
          changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::vector<int32_t>> left(n);
  for (int32_t r = 0; r < n; ++r) {
    for (const Seq& alt : build_[r]) {
      for (const Sym& s : alt) {
        if (!s.is_rule) break;
        left[r].push_back(s.rule);
        if (!nullable[s.rule]) break;
      }
    }
  }
  std::vector<int> color(n, 0);  // 0 new, 1 on the DFS path, 2 done
  std::string cycle;
  std::function<bool(int32_t)> dfs = [&](int32_t r) {
    color[r] = 1;
    for (int32_t s : left[r]) {
      if (color[s] == 1 || (color[s] == 0 && dfs(s))) {
        if (cycle.empty()) cycle = names_[s];
        return true;
      }
    }
    color[r] = 2;
    return false;
  };
  for (int32_t r = 0; r < n; ++r) {
    if (color[r] == 0 && dfs(r)) {
      return invalid_argument("grammar rule '" + cycle + "' is left-recursive");
    }
  }
  // Flatten.
  alt_starts_.assign(n, {});
  for (int32_t r = 0; r < n; ++r) {
    for (const Seq& alt : build_[r]) {
      alt_starts_[r].push_back(static_cast<int32_t>(elems_.size()));
      for (const Sym& s : alt) {
        if (s.is_rule) {
          elems_.push_back({Elem::kRule, s.rule});
        } else {
          byte_sets_.push_back(s.bytes);
          elems_.push_back({Elem::kBytes, static_cast<int32_t>(byte_sets_.size()) - 1});
        }
      }
      elems_.push_back({Elem::kEnd, -1});
    }
  }
  build_.clear();
  build_.shrink_to_fit();
  finalized_ = true;
  return {};
}

namespace {

std::string byte_set_string(const ByteSet& b) {
  if (b.count() == 1) {
    for (int i = 0; i < 256; ++i) {
      if (!b.test(static_cast<size_t>(i))) continue;
      if (i >= 0x20 && i < 0x7f && i != '"' && i != '\\') return std::string("\"") + char(i) + "\"";
      char buf[8];
      std::snprintf(buf, sizeof(buf), "[\\x%02x]", i);
      return buf;
    }
  }
  std::string out = "[";
  for (int i = 0; i < 256;) {
    if (!b.test(static_cast<size_t>(i))) {
      ++i;
      continue;
    }
    int j = i;
    while (j + 1 < 256 && b.test(static_cast<size_t>(j + 1))) ++j;
    char buf[16];
    if (j == i) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", i);
    } else {
      std::snprintf(buf, sizeof(buf), "\\x%02x-\\x%02x", i, j);
    }
    out += buf;
    i = j + 1;
  }
  return out + "]";
}

}  // namespace

std::string Grammar::to_string() const {
  std::string out;
  if (!finalized_) return "<grammar not finalized>";
  for (int32_t r = 0; r < n_rules(); ++r) {
    out += names_[r] + std::to_string(r) + " ::=";
    for (size_t a = 0; a < alt_starts_[r].size(); ++a) {
      if (a > 0) out += " |";
      for (int32_t p = alt_starts_[r][a]; elems_[p].kind != Elem::kEnd; ++p) {
        const Elem& e = elems_[p];
        out += " ";
        if (e.kind == Elem::kRule) {
          out += names_[e.value] + std::to_string(e.value);
        } else {
          out += byte_set_string(byte_sets_[e.value]);
        }
      }
      if (elems_[alt_starts_[r][a]].kind == Elem::kEnd) out += " \"\"";
    }
    out += "\n";
  }
  return out;
}

}  // namespace mlxm::grammar
