#include "tokenizer/decoders.h"

#include <nlohmann/json.hpp>

#include "tokenizer/normalizers.h"
#include "tokenizer/regex.h"
#include "tokenizer/text.h"

namespace mlxm::tok {

namespace {

using json = nlohmann::json;

// All tokens -> one string: each token's characters mapped back to bytes through the GPT-2
// alphabet (a token with a character outside the alphabet, e.g. an added token with a plain
// space, contributes its raw UTF-8 as the Rust crate does); ill-formed UTF-8 becomes U+FFFD.
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    std::string bytes;
    for (const std::string& t : *tokens) {
      const size_t mark = bytes.size();
      bool ok = true;
      size_t i = 0;
      while (i < t.size()) {
        size_t n;
        const int b = code_point_to_byte(utf8_decode(t, i, &n));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
        i += n;
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens->assign(1, utf8_lossy(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      std::string& t = (*tokens)[i];
      std::string r;
      r.reserve(t.size());
      size_t pos = 0;
      for (size_t f = t.find(replacement_); f != std::string::npos; f = t.find(replacement_, pos)) {
        r.append(t, pos, f - pos);
        r.push_back(' ');
        pos = f + replacement_.size();
      }
      r.append(t, pos, std::string::npos);
      if (i == 0 && strip_first_ && !r.empty() && r[0] == ' ') r.erase(0, 1);
      t = std::move(r);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

// Runs of "<0xXX>" tokens become the text of their bytes (ill-formed sequences become U+FFFD by
// the maximal-subpart rule, as in @huggingface/tokenizers; see bench/NOTES.md for the Rust quirk).
class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens->size());
    std::string bytes;
    bool in_bytes = false;
    for (std::string& t : *tokens) {
      int b = parse_byte(t);
      if (b >= 0) {
        bytes.push_back(static_cast<char>(b));
        in_bytes = true;
        continue;
      }
      if (in_bytes) {
        out.push_back(utf8_lossy(bytes));
        bytes.clear();
        in_bytes = false;
      }
      out.push_back(std::move(t));
    }
    if (in_bytes) out.push_back(utf8_lossy(bytes));
    *tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  static int parse_byte(const std::string& t) {
    if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
    const int h = hex(t[3]), l = hex(t[4]);
    return (h < 0 || l < 0) ? -1 : h * 16 + l;
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    std::string all;
    for (const auto& t : *tokens) all += t;
    tokens->assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing occurrences of one character from each token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    const size_t c = content_.size();
    for (std::string& t : *tokens) {
      size_t b = 0;
      for (size_t k = 0; k < start_ && b + c <= t.size() && t.compare(b, c, content_) == 0; ++k) b += c;
      size_t e = t.size();
      for (size_t k = 0; k < stop_ && e >= b + c && t.compare(e - c, c, content_) == 0; ++k) e -= c;
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::shared_ptr<const Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) t = regex_replace_all(*re_, t, content_);
  }

 private:
  std::shared_ptr<const Regex> re_;
  std::string content_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> s) : seq_(std::move(s)) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (const auto& d : seq_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> seq_;
};

}  // namespace

Result<std::unique_ptr<Decoder>> make_decoder(const json& j) {
  if (j.is_null()) return std::unique_ptr<Decoder>();
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return invalid_argument("decoder must be an object with a \"type\"");
  }
  const std::string type = j["type"].get<std::string>();
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "Metaspace") {
    bool strip = j.value("add_prefix_space", true);
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
      strip = j["prepend_scheme"].get<std::string>() != "never";
    }
    const std::string repl = j.value("replacement", std::string("\xE2\x96\x81"));
    if (repl.empty()) return invalid_argument("Metaspace decoder: empty replacement");
    return std::unique_ptr<Decoder>(new MetaspaceDecoder(repl, strip));
  }
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Strip") {
    const std::string content = j.value("content", std::string(" "));
    const int64_t start = j.value("start", int64_t{0}), stop = j.value("stop", int64_t{0});
    if (content.empty() || start < 0 || stop < 0) return invalid_argument("Strip decoder: bad fields");
    return std::unique_ptr<Decoder>(new StripDecoder(content, static_cast<size_t>(start), static_cast<size_t>(stop)));
  }
  if (type == "Replace") {
    MLXM_ASSIGN_OR_RETURN(auto re, make_pattern(j.value("pattern", json())));
    const json content = j.value("content", json(""));
    if (!content.is_string()) return invalid_argument("Replace decoder: \"content\" must be a string");
    return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(re), content.get<std::string>()));
  }
  if (type == "Sequence") {
    if (!j.contains("decoders") || !j["decoders"].is_array()) {
      return invalid_argument("Sequence decoder needs an array \"decoders\"");
    }
    std::vector<std::unique_ptr<Decoder>> seq;
    for (const auto& c : j["decoders"]) {
      MLXM_ASSIGN_OR_RETURN(auto d, make_decoder(c));
      if (d) seq.push_back(std::move(d));
    }
    return std::unique_ptr<Decoder>(new SequenceDecoder(std::move(seq)));
  }
  return unimplemented("unsupported decoder type '" + type + "'");
}

}  // namespace mlxm::tok
