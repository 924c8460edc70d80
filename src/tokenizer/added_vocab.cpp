#include "tokenizer/added_vocab.h"

#include "tokenizer/normalizers.h"
#include "tokenizer/text.h"

namespace mlxm::tok {

namespace {

uint32_t last_char(std::string_view s, size_t end, size_t* begin) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  size_t n;
  *begin = i;
  return utf8_decode(s, i, &n);
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view s, int32_t token) {
  if (s.empty()) return;
  int32_t node = 0;
  for (char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | b;
    auto it = edges.find(key);
    if (it == edges.end()) {
      nodes.push_back(Node{});
      it = edges.emplace(key, static_cast<int32_t>(nodes.size() - 1)).first;
    }
    node = it->second;
  }
  if (nodes[node].token < 0) nodes[node].token = token;  // first definition wins
  first[static_cast<unsigned char>(s[0])] = true;
}

AddedVocabulary::AddedVocabulary(const std::vector<AddedToken>& tokens, const Normalizer* normalizer)
    : tokens_(tokens) {
  for (size_t k = 0; k < tokens_.size(); ++k) {
    const AddedToken& t = tokens_[k];
    if (t.normalized && normalizer != nullptr) {
      normalized_.insert(normalizer->normalize(t.content), static_cast<int32_t>(k));
    } else {
      raw_.insert(t.content, static_cast<int32_t>(k));
    }
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized_pass, std::vector<Split>* out) const {
  const Trie& trie = normalized_pass ? normalized_ : raw_;
  const size_t n = text.size();
  size_t start_offset = 0;
  const size_t first_out = out->size();
  size_t pos = 0;
  while (pos < n) {
    if (!trie.first[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    // Longest token starting at pos.
    int32_t node = 0, best = -1;
    size_t best_len = 0;
    for (size_t i = pos; i < n; ++i) {
      auto it = trie.edges.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
      if (it == trie.edges.end()) break;
      node = it->second;
      if (trie.nodes[node].token >= 0) {
        best = trie.nodes[node].token;
        best_len = i + 1 - pos;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[best];
    size_t start = pos, stop = pos + best_len;
    pos = stop;  // the search resumes after this match whether or not it is used
    if (tok.single_word) {
      size_t b;
      const bool start_ok = start == 0 || !is_alphanumeric(last_char(text, start, &b));
      size_t len;
      const bool stop_ok = stop == n || !is_alphanumeric(utf8_decode(text, stop, &len));
      if (!start_ok || !stop_ok) continue;
    }
    if (tok.lstrip) {
      while (start > start_offset) {
        size_t b;
        if (!is_white_space(last_char(text, start, &b))) break;
        start = b;
      }
    }
    if (tok.rstrip) {
      while (stop < n) {
        size_t len;
        if (!is_white_space(utf8_decode(text, stop, &len))) break;
        stop += len;
      }
      pos = stop;
    }
    if (start > start_offset) out->push_back(Split{start_offset, start, -1});
    out->push_back(Split{start, stop, tok.id});
    start_offset = stop;
  }
  if (start_offset < n || out->size() == first_out) out->push_back(Split{start_offset, n, -1});
}

}  // namespace mlxm::tok
