// The jinja2 lexer as transformers configures it: trim_blocks, lstrip_blocks, no
// keep_trailing_newline, default delimiters. Mirrors jinja2/lexer.py rule by rule.
#include <cstdlib>
#include <cstring>

#include "tokenizer/chat_template/ast.h"

namespace mlxm::jinja {
namespace {

[[noreturn]] void syntax_error(int line, const std::string& msg) {
  throw TemplateException{ErrorKind::kSyntax, "line " + std::to_string(line) + ": " + msg};
}

// Decodes the code point at s[pos]; sets *len to its byte length (1 for invalid bytes).
uint32_t decode_at(const std::string& s, size_t pos, size_t* len) {
  std::string_view rest(s.data() + pos, std::min<size_t>(4, s.size() - pos));
  auto cps = utf8_decode(rest);
  uint32_t cp = cps.empty() ? 0 : cps[0];
  std::string enc;
  utf8_append(enc, cp);
  *len = enc.size();
  return cp;
}

bool space_at(const std::string& s, size_t pos, size_t* len) {
  if (pos >= s.size()) return false;
  unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) {
    *len = 1;
    return py_isspace(c);
  }
  return py_isspace(decode_at(s, pos, len));
}

size_t skip_space(const std::string& s, size_t pos) {
  size_t len = 0;
  while (space_at(s, pos, &len)) pos += len;
  return pos;
}

// Python str.rstrip() of s[begin, end): returns the new end.
size_t rstrip_end(const std::string& s, size_t begin, size_t end) {
  auto cps = utf8_decode(std::string_view(s.data() + begin, end - begin));
  size_t n = cps.size();
  while (n > 0 && py_isspace(cps[n - 1])) --n;
  return begin + utf8_encode(cps, 0, n).size();
}

bool all_space(const std::string& s, size_t begin, size_t end) {
  if (begin >= end) return false;
  for (uint32_t cp : utf8_decode(std::string_view(s.data() + begin, end - begin))) {
    if (!py_isspace(cp)) return false;
  }
  return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// (\d+_)*\d+ starting at p; returns the end or npos.
size_t match_digits(const std::string& s, size_t p) {
  if (p >= s.size() || !is_digit(s[p])) return std::string::npos;
  while (p < s.size() && is_digit(s[p])) {
    ++p;
    if (p + 1 < s.size() && s[p] == '_' && is_digit(s[p + 1])) ++p;
  }
  return p;
}

size_t match_float(const std::string& s, size_t p) {
  if (p > 0 && s[p - 1] == '.') return std::string::npos;
  size_t q = match_digits(s, p);
  if (q == std::string::npos) return q;
  // alternative 1: optional fraction, then a required exponent
  size_t r = q;
  if (r < s.size() && s[r] == '.') {
    size_t f = match_digits(s, r + 1);
    if (f != std::string::npos) r = f;
  }
  if (r < s.size() && (s[r] == 'e' || s[r] == 'E')) {
    size_t e = r + 1;
    if (e < s.size() && (s[e] == '+' || s[e] == '-')) ++e;
    size_t d = match_digits(s, e);
    if (d != std::string::npos) return d;
  }
  // alternative 2: a required fraction
  if (q < s.size() && s[q] == '.') {
    size_t f = match_digits(s, q + 1);
    if (f != std::string::npos) return f;
  }
  return std::string::npos;
}

int digit_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// Integer literal: 0b.., 0o.., 0x.., decimal, or zeros. Returns end or npos.
size_t match_integer(const std::string& s, size_t p, int* base) {
  if (p >= s.size() || !is_digit(s[p])) return std::string::npos;
  if (s[p] == '0' && p + 1 < s.size()) {
    char x = static_cast<char>(s[p + 1] | 0x20);
    int b = x == 'b' ? 2 : x == 'o' ? 8 : x == 'x' ? 16 : 0;
    if (b) {
      size_t q = p + 2;
      size_t start = q;
      while (true) {
        size_t r = q;
        if (r < s.size() && s[r] == '_') ++r;
        if (r < s.size() && digit_value(s[r]) < b) {
          q = r + 1;
        } else {
          break;
        }
      }
      if (q > start) {
        *base = b;
        return q;
      }
    }
  }
  *base = 10;
  size_t q = p + 1;
  bool zero = s[p] == '0';
  while (true) {
    size_t r = q;
    if (r < s.size() && s[r] == '_') ++r;
    if (r < s.size() && is_digit(s[r]) && (!zero || s[r] == '0')) {
      q = r + 1;
    } else {
      break;
    }
  }
  return q;
}

int64_t parse_int(const std::string& s, size_t p, size_t end, int base, int line) {
  if (base != 10) p += 2;
  unsigned __int128 v = 0;
  for (size_t k = p; k < end; ++k) {
    if (s[k] == '_') continue;
    v = v * static_cast<unsigned>(base) + static_cast<unsigned>(digit_value(s[k]));
    if (v > static_cast<unsigned __int128>(INT64_MAX)) syntax_error(line, "integer literal too large");
  }
  return static_cast<int64_t>(v);
}

// Python's unicode-escape decoding of a string literal body.
std::string unescape(const std::string& body, int line) {
  std::string out;
  for (size_t k = 0; k < body.size(); ++k) {
    char c = body[k];
    if (c != '\\' || k + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++k];
    switch (e) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
      case 'u':
      case 'U': {
        size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t j = 0; j < n; ++j) {
          if (k + 1 + j >= body.size() || digit_value(body[k + 1 + j]) >= 16) {
            syntax_error(line, "truncated \\" + std::string(1, e) + " escape");
          }
          cp = cp * 16 + static_cast<uint32_t>(digit_value(body[k + 1 + j]));
        }
        if (cp > 0x10FFFF) syntax_error(line, "illegal Unicode character");
        k += n;
        utf8_append(out, cp);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int j = 0; j < 2 && k + 1 < body.size() && body[k + 1] >= '0' && body[k + 1] <= '7'; ++j) {
            cp = cp * 8 + static_cast<uint32_t>(body[++k] - '0');
          }
          utf8_append(out, cp);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(std::move(src)) {}

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < s_.size()) {
      // Find the next tag opener.
      size_t tag = pos;
      char kind = 0;
      while (true) {
        tag = s_.find('{', tag);
        if (tag == std::string::npos || tag + 1 >= s_.size()) {
          tag = std::string::npos;
          break;
        }
        char n = s_[tag + 1];
        if (n == '{' || n == '%' || n == '#') {
          kind = n;
          break;
        }
        ++tag;
      }
      if (tag == std::string::npos) {
        emit_data(pos, s_.size());
        return finish();
      }
      size_t after = tag + 2;
      char sign = 0;
      if (after < s_.size() && (s_[after] == '-' || s_[after] == '+')) sign = s_[after++];
      // Whitespace control of the text before the tag.
      size_t text_end = tag;
      if (sign == '-') {
        text_end = rstrip_end(s_, pos, tag);
      } else if (sign != '+' && kind != '{') {
        size_t nl = s_.rfind('\n', tag == 0 ? std::string::npos : tag - 1);
        size_t l_pos = (nl == std::string::npos || nl < pos) ? pos : nl + 1;
        if ((l_pos > pos || line_starting) && all_space(s_, l_pos, tag)) text_end = l_pos;
      }
      emit_data(pos, text_end);
      line_ = line_at(tag);
      if (kind == '#') {
        pos = lex_comment(after, &line_starting);
      } else if (kind == '%' && try_raw(after, &pos, &line_starting)) {
        // raw block handled
      } else {
        pos = lex_tag(after, kind == '%', &line_starting);
      }
    }
    return finish();
  }

 private:
  std::vector<Token> finish() {
    push(Tok::kEof, "");
    return std::move(out_);
  }

  int line_at(size_t pos) {
    while (line_pos_ < pos && line_pos_ < s_.size()) {
      if (s_[line_pos_++] == '\n') ++line_count_;
    }
    return line_count_;
  }

  void push(Tok t, std::string text) {
    Token tok;
    tok.type = t;
    tok.text = std::move(text);
    tok.line = line_;
    out_.push_back(std::move(tok));
  }

  void emit_data(size_t begin, size_t end) {
    if (end > begin) {
      line_ = line_at(begin);
      push(Tok::kData, s_.substr(begin, end - begin));
    }
  }

  size_t lex_comment(size_t p, bool* line_starting) {
    while (p < s_.size()) {
      if (s_.compare(p, 3, "+#}") == 0) {
        *line_starting = false;
        return p + 3;
      }
      if (s_.compare(p, 3, "-#}") == 0) {
        size_t e = skip_space(s_, p + 3);
        *line_starting = s_[e - 1] == '\n';
        return e;
      }
      if (s_.compare(p, 2, "#}") == 0) {
        size_t e = p + 2;
        if (e < s_.size() && s_[e] == '\n') ++e;
        *line_starting = s_[e - 1] == '\n';
        return e;
      }
      ++p;
    }
    syntax_error(line_, "Missing end of comment tag");
  }

  // {% raw %}...{% endraw %}: emits the body as data.
  bool try_raw(size_t p, size_t* pos_out, bool* line_starting) {
    size_t q = skip_space(s_, p);
    if (s_.compare(q, 3, "raw") != 0) return false;
    q = skip_space(s_, q + 3);
    if (s_.compare(q, 3, "-%}") == 0) {
      q = skip_space(s_, q + 3);
    } else if (s_.compare(q, 2, "%}") == 0) {
      q += 2;
    } else {
      return false;
    }
    // Find {%(-|+)?\s*endraw\s*(+%}|-%}\s*|%}\n?)
    size_t search = q;
    while (true) {
      size_t open = s_.find("{%", search);
      if (open == std::string::npos) syntax_error(line_, "Missing end of raw directive");
      size_t r = open + 2;
      char sign = 0;
      if (r < s_.size() && (s_[r] == '-' || s_[r] == '+')) sign = s_[r++];
      r = skip_space(s_, r);
      if (s_.compare(r, 6, "endraw") != 0) {
        search = open + 1;
        continue;
      }
      r = skip_space(s_, r + 6);
      size_t end;
      if (s_.compare(r, 3, "+%}") == 0) {
        end = r + 3;
      } else if (s_.compare(r, 3, "-%}") == 0) {
        end = skip_space(s_, r + 3);
      } else if (s_.compare(r, 2, "%}") == 0) {
        end = r + 2;
        if (end < s_.size() && s_[end] == '\n') ++end;
      } else {
        search = open + 1;
        continue;
      }
      size_t text_end = open;
      if (sign == '-') {
        text_end = rstrip_end(s_, q, open);
      } else if (sign != '+') {
        size_t nl = s_.rfind('\n', open - 1);
        size_t l_pos = (nl == std::string::npos || nl < q) ? q : nl + 1;
        if (l_pos > q && all_space(s_, l_pos, open)) text_end = l_pos;
      }
      emit_data(q, text_end);
      *line_starting = s_[end - 1] == '\n';
      *pos_out = end;
      return true;
    }
  }

  size_t lex_tag(size_t p, bool block, bool* line_starting) {
    push(block ? Tok::kBlockBegin : Tok::kVarBegin, "");
    std::vector<char> balance;
    while (true) {
      if (p >= s_.size()) {
        syntax_error(line_, block ? "unexpected end of template, expected '%}'"
                                  : "unexpected end of template, expected '}}'");
      }
      line_ = line_at(p);
      if (balance.empty()) {
        size_t end = std::string::npos;
        if (block) {
          if (s_.compare(p, 3, "+%}") == 0) {
            end = p + 3;
          } else if (s_.compare(p, 3, "-%}") == 0) {
            end = skip_space(s_, p + 3);
          } else if (s_.compare(p, 2, "%}") == 0) {
            end = p + 2;
            if (end < s_.size() && s_[end] == '\n') ++end;
          }
        } else {
          if (s_.compare(p, 3, "-}}") == 0) {
            end = skip_space(s_, p + 3);
          } else if (s_.compare(p, 2, "}}") == 0) {
            end = p + 2;
          }
        }
        if (end != std::string::npos) {
          push(block ? Tok::kBlockEnd : Tok::kVarEnd, "");
          *line_starting = s_[end - 1] == '\n';
          return end;
        }
      }
      size_t len = 0;
      if (space_at(s_, p, &len)) {
        p = skip_space(s_, p);
        continue;
      }
      size_t e = match_float(s_, p);
      if (e != std::string::npos) {
        std::string lit;
        for (size_t k = p; k < e; ++k) {
          if (s_[k] != '_') lit += s_[k];
        }
        push(Tok::kFloat, lit);
        out_.back().float_value = std::strtod(lit.c_str(), nullptr);
        p = e;
        continue;
      }
      int base = 10;
      e = match_integer(s_, p, &base);
      if (e != std::string::npos) {
        push(Tok::kInt, s_.substr(p, e - p));
        out_.back().int_value = parse_int(s_, p, e, base, line_);
        p = e;
        continue;
      }
      char c = s_[p];
      if (is_name_start(c)) {
        e = p;
        while (e < s_.size() && is_name_char(s_[e])) ++e;
        push(Tok::kName, s_.substr(p, e - p));
        p = e;
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t k = p + 1;
        while (k < s_.size() && s_[k] != c) k += (s_[k] == '\\') ? 2 : 1;
        if (k >= s_.size()) syntax_error(line_, std::string("unexpected char '") + c + "'");
        push(Tok::kString, unescape(s_.substr(p + 1, k - p - 1), line_));
        p = k + 1;
        continue;
      }
      static const char* kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
      std::string op;
      for (const char* t : kTwo) {
        if (s_.compare(p, 2, t) == 0) op = t;
      }
      if (op.empty() && std::strchr("+-/*%~[](){}><=.:|,;", c) && c != 0) op = std::string(1, c);
      if (op.empty()) syntax_error(line_, std::string("unexpected char at ") + std::to_string(p));
      if (op == "(" || op == "[" || op == "{") {
        balance.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
      } else if (op == ")" || op == "]" || op == "}") {
        if (balance.empty()) syntax_error(line_, "unexpected '" + op + "'");
        char want = balance.back();
        balance.pop_back();
        if (want != op[0]) syntax_error(line_, "unexpected '" + op + "', expected '" + want + "'");
      }
      push(Tok::kOp, op);
      p += op.size();
    }
  }

  std::string s_;
  std::vector<Token> out_;
  int line_ = 1;
  size_t line_pos_ = 0;
  int line_count_ = 1;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  std::string s;
  s.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      s += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      s += source[k];
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return Lexer(std::move(s)).run();
}

}  // namespace mlxm::jinja
