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
  std::vector<std::pair<std::string_view, int32_t>> items;
  for (int32_t i = 0; i < t->vocab_size(); ++i) {
    if (t->usable(i)) items.emplace_back(t->bytes_[static_cast<size_t>(i)], i);
  }
  t->trie_ = build_byte_trie(std::move(items));
  return t;
}

ByteTrie build_byte_trie(std::vector<std::pair<std::string_view, int32_t>> items) {
  std::sort(items.begin(), items.end());
  ByteTrie t;
  t.tokens.reserve(items.size());
  // Recursive over the sorted range [lo, hi) of items sharing `depth` leading bytes.
  auto build = [&](auto&& self, size_t lo, size_t hi, size_t depth, uint8_t byte) -> void {
    const int32_t me = static_cast<int32_t>(t.nodes.size());
    t.nodes.push_back({byte, 0, 0, 0});
    t.nodes[me].tok_begin = static_cast<int32_t>(t.tokens.size());
    while (lo < hi && items[lo].first.size() == depth) t.tokens.push_back(items[lo++].second);
    t.nodes[me].tok_end = static_cast<int32_t>(t.tokens.size());
    while (lo < hi) {
      const auto b = static_cast<unsigned char>(items[lo].first[depth]);
      size_t j = lo;
      while (j < hi && static_cast<unsigned char>(items[j].first[depth]) == b) ++j;
      self(self, lo, j, depth + 1, b);
      lo = j;
    }
    t.nodes[me].end = static_cast<int32_t>(t.nodes.size());
  };
  build(build, 0, items.size(), 0, 0);
  return t;
}

size_t plain_char_length(std::string_view s, size_t i, const ByteSet& ascii_excluded) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return ascii_excluded.test(c) ? 0 : 1;
  auto in = [&](size_t k, unsigned lo, unsigned hi) {
    if (i + k >= s.size()) return false;
    const auto b = static_cast<unsigned char>(s[i + k]);
    return b >= lo && b <= hi;
  };
  // (second byte range, length) per lead byte, as in Grammar::utf8_char_except.
  unsigned lo2 = 0x80, hi2 = 0xBF;
  size_t len = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c == 0xE0) {
    len = 3, lo2 = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    len = 3;
  } else if (c == 0xED) {
    len = 3, hi2 = 0x9F;
  } else if (c == 0xF0) {
    len = 4, lo2 = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    len = 4;
  } else if (c == 0xF4) {
    len = 4, hi2 = 0x8F;
  } else {
    return 0;
  }
  if (!in(1, lo2, hi2)) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (!in(k, 0x80, 0xBF)) return 0;
  }
  return len;
}

std::shared_ptr<const PlainIndex> TokenTrie::plain_index(const ByteSet& ascii_excluded) const {
  const std::string key = ascii_excluded.to_string();
  std::lock_guard<std::mutex> lock(plain_mu_);
  if (auto it = plain_.find(key); it != plain_.end()) return it->second;
  auto idx = std::make_shared<PlainIndex>();
  std::vector<int32_t> chars(bytes_.size(), -1);  // wholly plain: its character count
  std::vector<std::vector<std::pair<std::string_view, int32_t>>> rest;
  for (int32_t id = 0; id < vocab_size(); ++id) {
    const std::string& b = bytes_[static_cast<size_t>(id)];
    if (b.empty()) continue;
    size_t i = 0;
    int32_t n = 0;
    while (i < b.size()) {
      const size_t len = plain_char_length(b, i, ascii_excluded);
      if (len == 0) break;
      i += len;
      ++n;
    }
    if (i == b.size()) {
      chars[static_cast<size_t>(id)] = n;
      idx->max_chars = std::max(idx->max_chars, n);
    } else {
      if (rest.size() <= static_cast<size_t>(n)) rest.resize(static_cast<size_t>(n) + 1);
      rest[static_cast<size_t>(n)].emplace_back(std::string_view(b).substr(i), id);
    }
  }
  const size_t words = (bytes_.size() + 63) / 64;
  std::vector<std::vector<int32_t>> by_chars(static_cast<size_t>(idx->max_chars) + 1);
  for (int32_t id = 0; id < vocab_size(); ++id) {
    if (chars[static_cast<size_t>(id)] > 0) by_chars[static_cast<size_t>(chars[static_cast<size_t>(id)])].push_back(id);
  }
  idx->upto.assign(static_cast<size_t>(idx->max_chars) + 1, std::vector<uint64_t>(words, 0));
  for (size_t n = 1; n < idx->upto.size(); ++n) {
    idx->upto[n] = idx->upto[n - 1];
    for (int32_t id : by_chars[n]) {
      idx->upto[n][static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
  }
  for (auto& items : rest) idx->rest.push_back(build_byte_trie(std::move(items)));
  plain_.emplace(key, idx);
  return idx;
}

}  // namespace mlxm::grammar
