#include "grammar/token_trie.h"

#include <algorithm>
#include <numeric>

namespace mlxm::grammar {
namespace {

// GPT-2's byte -> printable code point table, inverted: code point -> byte (-1 if none).
std::vector<int> byte_level_inverse() {
  std::vector<int> inv(512, -1);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const int cp = printable ? b : 256 + n++;
    inv[static_cast<size_t>(cp)] = b;
  }
  return inv;
}

// Decodes one UTF-8 code point at s[*i]; -1 when malformed.
int next_code_point(const std::string& s, size_t* i) {
  const unsigned char c = static_cast<unsigned char>(s[*i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || *i + static_cast<size_t>(len) > s.size()) return -1;
  int cp = len == 1 ? c : c & (0x7F >> len);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  *i += static_cast<size_t>(len);
  return cp;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string token_bytes(const Tokenizer& tokenizer, int32_t id, bool byte_level) {
  if (tokenizer.is_special(id)) return {};
  auto piece = tokenizer.id_to_token(id);
  if (!piece || piece->empty()) return {};
  const std::string& p = *piece;
  if (p.size() == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>' &&
      hex(p[3]) >= 0 && hex(p[4]) >= 0) {
    return std::string(1, static_cast<char>(hex(p[3]) * 16 + hex(p[4])));
  }
  if (byte_level) {
    static const std::vector<int> inv = byte_level_inverse();
    std::string out;
    for (size_t i = 0; i < p.size();) {
      const int cp = next_code_point(p, &i);
      if (cp < 0 || cp >= static_cast<int>(inv.size()) || inv[static_cast<size_t>(cp)] < 0) {
        return p;  // an added token written in plain text (e.g. "<tool_call>")
      }
      out.push_back(static_cast<char>(inv[static_cast<size_t>(cp)]));
    }
    return out;
  }
  std::string out;
  static const std::string kMeta = "\xE2\x96\x81";  // U+2581
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, kMeta.size(), kMeta) == 0) {
      out.push_back(' ');
      i += kMeta.size();
    } else {
      out.push_back(p[i++]);
    }
  }
  return out;
}

std::shared_ptr<const TokenTrie> TokenTrie::build(const Tokenizer& tokenizer) {
  // Byte-level vocabularies hold every byte's printable stand-in; "Ġ" (U+0120, a space) is one.
  const bool byte_level = tokenizer.token_to_id("\xC4\xA0").has_value();
  std::vector<std::string> bytes(static_cast<size_t>(tokenizer.vocab_size()));
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    bytes[static_cast<size_t>(id)] = grammar::token_bytes(tokenizer, id, byte_level);
  }
  return from_bytes(std::move(bytes));
}

std::shared_ptr<const TokenTrie> TokenTrie::from_bytes(std::vector<std::string> token_bytes) {
  auto t = std::shared_ptr<TokenTrie>(new TokenTrie());
  t->bytes_ = std::move(token_bytes);
  t->build_trie();
  return t;
}

void TokenTrie::build_trie() {
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < vocab_size(); ++i) {
    if (usable(i)) ids.push_back(i);
  }
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return bytes_[a] != bytes_[b] ? bytes_[a] < bytes_[b] : a < b;
  });
  nodes_.clear();
  tokens_.clear();
  tokens_.reserve(ids.size());
  // Recursive over the sorted range [lo, hi) of tokens sharing `depth` leading bytes.
  auto build = [&](auto&& self, size_t lo, size_t hi, size_t depth, uint8_t byte) -> void {
    const int32_t me = static_cast<int32_t>(nodes_.size());
    nodes_.push_back({byte, 0, 0, 0});
    nodes_[me].tok_begin = static_cast<int32_t>(tokens_.size());
    while (lo < hi && bytes_[ids[lo]].size() == depth) tokens_.push_back(ids[lo++]);
    nodes_[me].tok_end = static_cast<int32_t>(tokens_.size());
    while (lo < hi) {
      const unsigned char b = static_cast<unsigned char>(bytes_[ids[lo]][depth]);
      size_t j = lo;
      while (j < hi && static_cast<unsigned char>(bytes_[ids[j]][depth]) == b) ++j;
      self(self, lo, j, depth + 1, b);
      lo = j;
    }
    nodes_[me].end = static_cast<int32_t>(nodes_.size());
  };
  build(build, 0, ids.size(), 0, 0);
}

}  // namespace mlxm::grammar
