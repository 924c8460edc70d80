#include "tokenizer/normalizers.h"

#include <utf8proc.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/text.h"

namespace mlxm::tok {

namespace {

using json = nlohmann::json;

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  std::string normalize(std::string text) const override {
    bool ascii = true;
    for (char c : text) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii || text.empty()) return text;  // ASCII is invariant under all four forms
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                     static_cast<utf8proc_ssize_t>(text.size()), &out,
                     static_cast<utf8proc_option_t>(options_));
    if (n < 0) return text;  // cannot happen for valid UTF-8
    std::string r(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
    return r;
  }

 private:
  int options_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
  std::string normalize(std::string text) const override {
    if (text.empty()) return text;  // Rust tokenizers: nothing is prepended to an empty string
    return prepend_ + text;
  }

 private:
  std::string prepend_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::shared_ptr<const Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  std::string normalize(std::string text) const override {
    return regex_replace_all(*re_, text, content_);
  }

 private:
  std::shared_ptr<const Regex> re_;
  std::string content_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string text) const override {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
      size_t n;
      const uint32_t cp = utf8_decode(text, i, &n);
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
      } else if (cp == 0x130) {
        out += "i\xCC\x87";  // the one unconditional multi-char lowercase mapping (Rust to_lowercase)
      } else {
        utf8_append(&out, static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
      }
      i += n;
    }
    return out;
  }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string text) const override {
    size_t b = 0, e = text.size();
    if (left_) {
      while (b < e) {
        size_t n;
        if (!is_white_space(utf8_decode(text, b, &n))) break;
        b += n;
      }
    }
    if (right_) {
      while (e > b) {
        size_t s = e - 1;
        while (s > b && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
        size_t n;
        if (!is_white_space(utf8_decode(text, s, &n))) break;
        e = s;
      }
    }
    return text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> n) : seq_(std::move(n)) {}
  std::string normalize(std::string text) const override {
    for (const auto& n : seq_) text = n->normalize(std::move(text));
    return text;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> seq_;
};

}  // namespace

// Pattern objects {"String": s} or {"Regex": r} (shared with pre-tokenizers and decoders).
Result<std::shared_ptr<const Regex>> make_pattern(const json& p) {
  if (p.is_object() && p.contains("String") && p["String"].is_string()) {
    return Regex::literal(p["String"].get<std::string>());
  }
  if (p.is_object() && p.contains("Regex") && p["Regex"].is_string()) {
    return Regex::compile(p["Regex"].get<std::string>());
  }
  return invalid_argument("pattern must be {\"String\": ...} or {\"Regex\": ...}, got " + p.dump());
}

Result<std::unique_ptr<Normalizer>> make_normalizer(const json& j) {
  if (j.is_null()) return std::unique_ptr<Normalizer>();
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return invalid_argument("normalizer must be an object with a \"type\"");
  }
  const std::string type = j["type"].get<std::string>();
  constexpr int kStable = UTF8PROC_STABLE;
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(kStable | UTF8PROC_COMPOSE));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(kStable | UTF8PROC_DECOMPOSE));
  if (type == "NFKC") {
    return std::unique_ptr<Normalizer>(new UnicodeNormalizer(kStable | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
  }
  if (type == "NFKD") {
    return std::unique_ptr<Normalizer>(new UnicodeNormalizer(kStable | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT));
  }
  if (type == "Prepend") {
    if (!j.contains("prepend") || !j["prepend"].is_string()) {
      return invalid_argument("Prepend normalizer needs a string \"prepend\"");
    }
    return std::unique_ptr<Normalizer>(new PrependNormalizer(j["prepend"].get<std::string>()));
  }
  if (type == "Replace") {
    MLXM_ASSIGN_OR_RETURN(auto re, make_pattern(j.value("pattern", json())));
    const json content = j.value("content", json(""));
    if (!content.is_string()) return invalid_argument("Replace normalizer: \"content\" must be a string");
    return std::unique_ptr<Normalizer>(new ReplaceNormalizer(std::move(re), content.get<std::string>()));
  }
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new LowercaseNormalizer());
  if (type == "Strip") {
    return std::unique_ptr<Normalizer>(
        new StripNormalizer(j.value("strip_left", true), j.value("strip_right", true)));
  }
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array()) {
      return invalid_argument("Sequence normalizer needs an array \"normalizers\"");
    }
    std::vector<std::unique_ptr<Normalizer>> seq;
    for (const auto& c : j["normalizers"]) {
      MLXM_ASSIGN_OR_RETURN(auto n, make_normalizer(c));
      if (n) seq.push_back(std::move(n));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(seq)));
  }
  return unimplemented("unsupported normalizer type '" + type + "'");
}

}  // namespace mlxm::tok
