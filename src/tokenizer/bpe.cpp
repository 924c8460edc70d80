#include "tokenizer/bpe.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <queue>

#include "tokenizer/text.h"

namespace mlxm::tok {

namespace {

using json = nlohmann::json;

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

Result<std::optional<std::string>> optional_string(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<std::string>();
  if (!j[key].is_string()) return invalid_argument(std::string("BPE: \"") + key + "\" must be a string");
  return std::optional<std::string>(j[key].get<std::string>());
}

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::from_json(const json& j) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  if (!j.contains("vocab") || !j["vocab"].is_object()) {
    return invalid_argument("BPE model needs an object \"vocab\"");
  }
  if (j.contains("dropout") && !j["dropout"].is_null()) {
    const double d = j["dropout"].is_number() ? j["dropout"].get<double>() : -1.0;
    if (d != 0.0 && d != 1.0) return unimplemented("BPE dropout is not supported");
  }
  m->vocab_.reserve(j["vocab"].size());
  for (const auto& [tok, id] : j["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      return invalid_argument("BPE vocab: bad id for token '" + tok + "'");
    }
    m->vocab_.emplace(tok, id.get<int32_t>());
  }
  MLXM_ASSIGN_OR_RETURN(auto unk, optional_string(j, "unk_token"));
  MLXM_ASSIGN_OR_RETURN(auto prefix, optional_string(j, "continuing_subword_prefix"));
  MLXM_ASSIGN_OR_RETURN(auto suffix, optional_string(j, "end_of_word_suffix"));
  m->prefix_ = prefix.value_or("");
  m->suffix_ = suffix.value_or("");
  m->byte_fallback_ = j.value("byte_fallback", false);
  m->fuse_unk_ = j.value("fuse_unk", false);
  m->ignore_merges_ = j.value("ignore_merges", false);
  if (unk) {
    // Rust tokenizers only fails when the unk token is needed; an absent one acts as "no unk".
    if (auto id = m->token_to_id(*unk)) m->unk_id_ = *id;
  }
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    auto it = m->vocab_.find(std::string_view(buf));
    m->byte_ids_[b] = it == m->vocab_.end() ? -1 : it->second;
  }
  // Fast path for the initial symbols: single code points (only without prefix/suffix, where the
  // initial symbol of a character is the character itself).
  m->bmp_ids_.assign(0x10000, -1);
  for (const auto& [tok, id] : m->vocab_) {
    if (tok.empty() || !is_valid_utf8(tok)) continue;
    size_t n;
    const uint32_t cp = utf8_decode(tok, 0, &n);
    if (n == tok.size() && cp < 0x10000) m->bmp_ids_[cp] = id;
  }
  // Merges: "a b" strings (older files) or ["a", "b"] pairs.
  if (!j.contains("merges") || !j["merges"].is_array()) {
    return invalid_argument("BPE model needs an array \"merges\"");
  }
  const json& merges = j["merges"];
  m->merges_.reserve(merges.size());
  const size_t prefix_len = m->prefix_.size();
  int32_t rank = 0;
  for (const auto& mj : merges) {
    std::string a, b;
    if (mj.is_string()) {
      const std::string s = mj.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        return invalid_argument("BPE merge '" + s + "' is not two tokens separated by one space");
      }
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (mj.is_array() && mj.size() == 2 && mj[0].is_string() && mj[1].is_string()) {
      a = mj[0].get<std::string>();
      b = mj[1].get<std::string>();
    } else {
      return invalid_argument("BPE merge #" + std::to_string(rank) + " is malformed: " + mj.dump());
    }
    auto ia = m->token_to_id(a);
    auto ib = m->token_to_id(b);
    if (!ia || !ib) {
      return invalid_argument("BPE merge #" + std::to_string(rank) + " uses a token not in the vocab: '" +
                              (ia ? b : a) + "'");
    }
    std::string merged = a;
    if (prefix_len > 0 && b.compare(0, prefix_len, m->prefix_) == 0) {
      merged.append(b, prefix_len, std::string::npos);
    } else {
      merged += b;
    }
    auto im = m->token_to_id(merged);
    if (!im) {
      return invalid_argument("BPE merge #" + std::to_string(rank) + " gives '" + merged +
                              "', which is not in the vocab");
    }
    m->merges_.emplace(pair_key(*ia, *ib), Merge{rank, *im});  // first (lowest rank) wins
    ++rank;
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

int32_t BpeModel::initial_id(std::string_view s, uint32_t cp) const {
  if (cp < 0x10000) return bmp_ids_[cp];
  auto it = vocab_.find(s);
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  auto compute = [this, word, out] {
    if (ignore_merges_) {
      auto it = vocab_.find(word);
      if (it != vocab_.end()) {
        out->push_back(it->second);
        return;
      }
    }
    merge_word(word, out);
  };
  if (word.size() > kMaxCachedWordBytes) {
    compute();
    return;
  }
  Shard& shard = cache_[StringHash{}(word) % kShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.map.find(word);
    if (it != shard.map.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out->size();
  compute();
  std::vector<int32_t> ids(out->begin() + static_cast<std::ptrdiff_t>(start), out->end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= kShardCapacity) shard.map.clear();
  shard.map.emplace(std::string(word), std::move(ids));
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>* out) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  auto add = [&sym](int32_t id) {
    const auto n = static_cast<int32_t>(sym.size());
    if (n > 0) sym.back().next = n;
    sym.push_back(Symbol{id, n - 1, -1, true});
  };
  const bool affixes = !prefix_.empty() || !suffix_.empty();
  bool pending_unk = false;
  std::string s;
  size_t i = 0;
  while (i < word.size()) {
    size_t n;
    const uint32_t cp = utf8_decode(word, i, &n);
    std::string_view c = word.substr(i, n);
    int32_t id;
    std::string_view piece = c;
    if (affixes) {
      s.clear();
      if (i > 0) s += prefix_;
      s.append(c);
      if (i + n == word.size()) s += suffix_;
      piece = s;
      auto it = vocab_.find(piece);
      id = it == vocab_.end() ? -1 : it->second;
    } else {
      id = initial_id(c, cp);
    }
    i += n;
    if (id >= 0) {
      if (pending_unk) {
        add(*unk_id_);
        pending_unk = false;
      }
      add(id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char ch : piece) all = all && byte_ids_[static_cast<unsigned char>(ch)] >= 0;
      if (all) {
        if (pending_unk) {
          add(*unk_id_);
          pending_unk = false;
        }
        for (char ch : piece) add(byte_ids_[static_cast<unsigned char>(ch)]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && !fuse_unk_) add(*unk_id_);
      pending_unk = true;
    }
    // No unk token: the character is dropped (as in the reference implementations).
  }
  if (pending_unk) add(*unk_id_);

  if (sym.size() > 1) {
    struct Item {
      int32_t rank;
      int32_t pos;
      int32_t new_id;
      bool operator>(const Item& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::vector<Item> storage;
    storage.reserve(sym.size());
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> q(std::greater<Item>(),
                                                                       std::move(storage));
    for (size_t k = 0; k + 1 < sym.size(); ++k) {
      auto it = merges_.find(pair_key(sym[k].id, sym[k + 1].id));
      if (it != merges_.end()) q.push(Item{it->second.rank, static_cast<int32_t>(k), it->second.new_id});
    }
    while (!q.empty()) {
      const Item top = q.top();
      q.pop();
      Symbol& left = sym[top.pos];
      if (!left.alive || left.next < 0) continue;
      Symbol& right = sym[left.next];
      auto it = merges_.find(pair_key(left.id, right.id));
      if (it == merges_.end() || it->second.new_id != top.new_id) continue;
      left.id = top.new_id;
      right.alive = false;
      left.next = right.next;
      if (left.next >= 0) sym[left.next].prev = top.pos;
      if (left.prev >= 0) {
        auto p = merges_.find(pair_key(sym[left.prev].id, left.id));
        if (p != merges_.end()) q.push(Item{p->second.rank, left.prev, p->second.new_id});
      }
      if (left.next >= 0) {
        auto p = merges_.find(pair_key(left.id, sym[left.next].id));
        if (p != merges_.end()) q.push(Item{p->second.rank, top.pos, p->second.new_id});
      }
    }
  }
  for (int32_t k = sym.empty() ? -1 : 0; k >= 0; k = sym[k].next) out->push_back(sym[k].id);
}

}  // namespace mlxm::tok
