#include "grammar/grammar_processor.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "core/check.h"

namespace mlxm::grammar {

CompiledGrammar::CompiledGrammar(std::shared_ptr<const Grammar> grammar,
                                 std::shared_ptr<const TokenTrie> trie,
                                 std::vector<int32_t> eos_ids)
    : grammar_(std::move(grammar)), trie_(std::move(trie)), eos_ids_(std::move(eos_ids)) {
  MLXM_CHECK(grammar_ && grammar_->finalized() && trie_);
  // One head vector per trie depth, sized once: walk() holds references into it.
  size_t max_len = 0;
  for (int32_t id = 0; id < trie_->vocab_size(); ++id) {
    max_len = std::max(max_len, trie_->token_bytes(id).size());
  }
  heads_by_depth_.resize(max_len + 2);
  const auto& elems = grammar_->elems();
  for (const Utf8CharRule& u : grammar_->utf8_char_rules()) {
    PlainRule pr;
    pr.alt_starts = grammar_->alts(u.rule);
    std::sort(pr.alt_starts.begin(), pr.alt_starts.end());
    bool ok = true;
    for (int32_t p : pr.alt_starts) {
      if (elems[p].kind != Elem::kBytes) {
        ok = false;
        break;
      }
      pr.lead |= grammar_->bytes(elems[p].value);
    }
    int canonical = -1;
    for (int b = 0x80; b-- > 0;) {
      if (pr.lead.test(static_cast<size_t>(b))) canonical = b;
    }
    if (!ok || canonical < 0) continue;
    pr.canonical = static_cast<uint8_t>(canonical);
    pr.index = trie_->plain_index(u.ascii_excluded);
    plain_rules_.push_back(std::move(pr));
  }
}

void CompiledGrammar::walk(Matcher& m, const ByteTrie& trie, int32_t node, size_t depth,
                           TokenMask* out) {
  const auto& nodes = trie.nodes;
  const auto& tokens = trie.tokens;
  const std::vector<Matcher::Head>& heads = heads_by_depth_[depth];
  const ByteSet next = m.next_bytes(heads);
  std::vector<Matcher::Head>& child_heads = heads_by_depth_[depth + 1];
  for (int32_t c = node + 1; c < nodes[node].end; c = nodes[c].end) {
    const TrieNode& n = nodes[c];
    if (!next.test(n.byte)) continue;
    const size_t mark = m.arena_size();
    bool accepting = false;
    m.step(heads, n.byte, &child_heads, &accepting);
    if (!child_heads.empty() || accepting) {
      for (int32_t t = n.tok_begin; t < n.tok_end; ++t) {
        const auto id = static_cast<size_t>(tokens[t]);
        (*out)[id >> 6] |= uint64_t{1} << (id & 63);
      }
      if (!child_heads.empty() && n.end > c + 1) walk(m, trie, c, depth + 1, out);
    }
    m.truncate_arena(mark);
  }
}

CompiledGrammar::PlainState CompiledGrammar::classify(std::span<const Matcher::Head> heads,
                                                      const PlainRule& rule) const {
  const auto& elems = grammar_->elems();
  int32_t parent = -1;
  size_t found = 0;
  for (const Matcher::Head& h : heads) {
    if (std::binary_search(rule.alt_starts.begin(), rule.alt_starts.end(), h.pos)) {
      if (found > 0 && h.parent != parent) return PlainState::kMixed;
      parent = h.parent;
      ++found;
    } else if ((grammar_->bytes(elems[h.pos].value) & rule.lead).any()) {
      return PlainState::kMixed;
    }
  }
  if (found == 0) return PlainState::kNone;
  return found == rule.alt_starts.size() ? PlainState::kPlain : PlainState::kMixed;
}

bool CompiledGrammar::plain_mask(Matcher& m, TokenMask* out) {
  const PlainRule* rule = nullptr;
  for (const PlainRule& r : plain_rules_) {
    if (classify(m.heads(), r) == PlainState::kPlain) {
      rule = &r;
      break;
    }
  }
  if (rule == nullptr) return false;
  const PlainIndex& idx = *rule->index;
  // chain_[a]: the heads after `a` plain characters (any: they are interchangeable here).
  const int32_t need = std::max<int32_t>(idx.max_chars, static_cast<int32_t>(idx.rest.size()) - 1);
  const size_t mark = m.arena_size();
  chain_.resize(1);
  chain_[0] = m.heads();
  bool acc_prev = m.accepting(), loop = false;
  int32_t k = 0;  // the state admits k more characters
  std::vector<Matcher::Head> next;
  while (k < need) {
    const std::vector<Matcher::Head>& cur = chain_[static_cast<size_t>(k)];
    if (k > 0) {
      const PlainState st = classify(cur, *rule);
      if (st == PlainState::kNone) break;
      if (st == PlainState::kMixed) {
        m.truncate_arena(mark);
        return false;
      }
    }
    bool acc = false;
    m.step(cur, rule->canonical, &next, &acc);
    if (next.empty() && !acc) break;
    if (m.state_key(next, acc) == m.state_key(cur, acc_prev)) {
      loop = true;  // the same state again: any number of characters
      break;
    }
    chain_.push_back(next);
    acc_prev = acc;
    ++k;
  }
  const int32_t plain_upto = loop ? idx.max_chars : std::min(k, idx.max_chars);
  if (plain_upto > 0) *out = idx.upto[static_cast<size_t>(plain_upto)];
  for (size_t a = 0; a < idx.rest.size(); ++a) {
    if (!loop && a > static_cast<size_t>(k)) break;
    if (idx.rest[a].nodes.size() <= 1) continue;
    heads_by_depth_[0] = chain_[std::min(a, chain_.size() - 1)];
    walk(m, idx.rest[a], 0, 0, out);
  }
  m.truncate_arena(mark);
  ++fast_masks_;
  return true;
}

void CompiledGrammar::compute_mask(Matcher& m, TokenMask* out) {
  out->assign((static_cast<size_t>(trie_->vocab_size()) + 63) / 64, 0);
  if (fast_strings_ && plain_mask(m, out)) return;
  heads_by_depth_[0] = m.heads();
  walk(m, trie_->trie(), 0, 0, out);
}

const TokenMask& CompiledGrammar::mask(Matcher& m) {
  std::string key = m.state_key();
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    ++hits_;
    return it->second;
  }
  ++misses_;
  if (cache_.size() >= kMaxCachedMasks) cache_.clear();
  TokenMask mask;
  compute_mask(m, &mask);
  return cache_.emplace(std::move(key), std::move(mask)).first->second;
}

GrammarProcessor::GrammarProcessor(std::shared_ptr<CompiledGrammar> grammar)
    : cg_(std::move(grammar)), matcher_(cg_->grammar()) {}

bool GrammarProcessor::process(std::span<float> logits) {
  if (done_ || failed_) return false;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const TokenMask& mask = cg_->mask(matcher_);
  const size_t n = logits.size();
  // EOS ids are special tokens (never in the mask): keep their logits to restore them when
  // the output so far is a complete sentence.
  const bool allow_eos = matcher_.accepting();
  float saved[8];
  const size_t n_eos = std::min<size_t>(cg_->eos_ids().size(), 8);
  for (size_t k = 0; k < n_eos; ++k) {
    const auto e = static_cast<size_t>(cg_->eos_ids()[k]);
    saved[k] = e < n ? logits[e] : kNegInf;
  }
  size_t n_allowed = 0;
  for (size_t w = 0; w * 64 < n; ++w) {
    const uint64_t bits = w < mask.size() ? mask[w] : 0;
    const size_t base = w * 64, end = std::min(n, base + 64);
    if (end == base + 64) {
      // Whole words: skip, blank with a (vectorised) fill, or visit only the cleared bits.
      if (bits == ~uint64_t{0}) {
        n_allowed += 64;
      } else if (bits == 0) {
        std::fill(logits.begin() + static_cast<std::ptrdiff_t>(base),
                  logits.begin() + static_cast<std::ptrdiff_t>(end), kNegInf);
      } else {
        n_allowed += static_cast<size_t>(std::popcount(bits));
        for (uint64_t off = ~bits; off != 0; off &= off - 1) {
          logits[base + static_cast<size_t>(std::countr_zero(off))] = kNegInf;
        }
      }
      continue;
    }
    for (size_t i = base; i < end; ++i) {
      if ((bits >> (i & 63)) & 1) {
        ++n_allowed;
      } else {
        logits[i] = kNegInf;
      }
    }
  }
  if (allow_eos) {
    for (size_t k = 0; k < n_eos; ++k) {
      const auto e = static_cast<size_t>(cg_->eos_ids()[k]);
      if (e < n) {
        logits[e] = saved[k];
        ++n_allowed;
      }
    }
  }
  return n_allowed > 0;
}

bool GrammarProcessor::allowed(int32_t vocab, std::vector<uint64_t>* bits) {
  const size_t n = vocab > 0 ? static_cast<size_t>(vocab) : 0;
  bits->assign((n + 63) / 64, 0);
  if (done_ || failed_) return false;
  const TokenMask& mask = cg_->mask(matcher_);
  std::copy_n(mask.begin(), std::min(mask.size(), bits->size()), bits->begin());
  if (n % 64 != 0 && !bits->empty()) bits->back() &= (uint64_t{1} << (n % 64)) - 1;
  if (matcher_.accepting()) {  // as process(): its first 8 EOS ids
    const size_t n_eos = std::min<size_t>(cg_->eos_ids().size(), 8);
    for (size_t k = 0; k < n_eos; ++k) {
      const auto e = static_cast<size_t>(cg_->eos_ids()[k]);
      if (e < n) (*bits)[e / 64] |= uint64_t{1} << (e % 64);
    }
  }
  return std::any_of(bits->begin(), bits->end(), [](uint64_t w) { return w != 0; });
}

void GrammarProcessor::accept(int32_t token) {
  if (done_ || failed_) return;
  if (std::find(cg_->eos_ids().begin(), cg_->eos_ids().end(), token) != cg_->eos_ids().end()) {
    done_ = true;
    return;
  }
  if (token < 0 || token >= cg_->trie().vocab_size() || !cg_->trie().usable(token) ||
      !matcher_.advance(cg_->trie().token_bytes(token))) {
    failed_ = true;
    return;
  }
  matcher_.compact();
}

}  // namespace mlxm::grammar
