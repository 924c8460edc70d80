// PCRE2 regex (UTF + UCP, JIT) for tokenizer.json patterns, which are written for Oniguruma (the
// Rust `tokenizers` crate). Internal to src/tokenizer.
// Thread-safety: a compiled Regex is immutable; find_all may be called concurrently (match data
// and the JIT stack are per call / per thread).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace mlxm::tok {

class Regex {
 public:
  // Compiles an Oniguruma-style pattern. Rewrites \s and \S to the Unicode White_Space property
  // (Oniguruma's meaning). An invalid pattern is an InvalidArgument naming it.
  static Result<std::shared_ptr<const Regex>> compile(std::string_view pattern);
  // A regex matching `literal` exactly.
  static Result<std::shared_ptr<const Regex>> literal(std::string_view literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the byte ranges [begin, end) of all non-overlapping, non-empty matches in `text`,
  // left to right. REQUIRES: text is valid UTF-8.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>* out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// Replaces every match of `re` in `text` with `content`.
std::string regex_replace_all(const Regex& re, std::string_view text, std::string_view content);

}  // namespace mlxm::tok
