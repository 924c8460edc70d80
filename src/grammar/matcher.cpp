#include "grammar/matcher.h"

#include <algorithm>
#include <unordered_map>

#include "core/check.h"

namespace mlxm::grammar {

Matcher::Matcher(std::shared_ptr<const Grammar> grammar) : g_(std::move(grammar)) {
  MLXM_CHECK(g_ && g_->finalized());
  // A virtual start: expand every alternative of the root with an empty stack below.
  for (int32_t a : g_->alts(g_->root())) expand(a, -1, &heads_, &accepting_, 0);
}

void Matcher::expand(int32_t pos, int32_t parent, std::vector<Head>* out, bool* accepting,
                     int depth) {
  MLXM_CHECK(depth < 100000);  // left recursion is rejected by finalize()
  const Elem& e = g_->elems()[pos];
  switch (e.kind) {
    case Elem::kBytes: {
      const Head h{pos, parent};
      if (out->size() < kMaxHeads && std::find(out->begin(), out->end(), h) == out->end()) {
        out->push_back(h);
      }
      return;
    }
    case Elem::kEnd:
      if (parent < 0) {
        *accepting = true;
      } else {
        const Node n = arena_[parent];
        expand(n.pos, n.parent, out, accepting, depth + 1);
      }
      return;
    case Elem::kRule: {
      // The continuation after the reference. In tail position (the alternative ends right
      // after it) returning from the callee ends this alternative too: reuse the parent, so
      // right recursion (star, repeat) keeps a constant stack and a repeating state key.
      int32_t cont = parent;
      if (g_->elems()[pos + 1].kind != Elem::kEnd) {
        arena_.push_back({pos + 1, parent});
        cont = static_cast<int32_t>(arena_.size()) - 1;
      }
      for (int32_t a : g_->alts(e.value)) expand(a, cont, out, accepting, depth + 1);
      return;
    }
  }
}

void Matcher::step(std::span<const Head> in, uint8_t byte, std::vector<Head>* out,
                   bool* accepting) {
  out->clear();
  *accepting = false;
  const auto& elems = g_->elems();
  for (const Head& h : in) {
    if (g_->bytes(elems[h.pos].value).test(byte)) expand(h.pos + 1, h.parent, out, accepting, 0);
  }
}

ByteSet Matcher::next_bytes(std::span<const Head> heads) const {
  ByteSet b;
  for (const Head& h : heads) b |= g_->bytes(g_->elems()[h.pos].value);
  return b;
}

bool Matcher::advance(std::string_view bytes) {
  std::vector<Head> cur = heads_, next;
  bool acc = accepting_;
  const size_t mark = arena_.size();
  for (unsigned char b : bytes) {
    step(cur, b, &next, &acc);
    if (next.empty() && !acc) {
      arena_.resize(mark);
      return false;
    }
    cur.swap(next);
  }
  heads_ = std::move(cur);
  accepting_ = acc;
  return true;
}

std::string Matcher::state_key(std::span<const Head> heads, bool accepting) const {
  std::vector<std::vector<int32_t>> stacks;
  stacks.reserve(heads.size());
  for (const Head& h : heads) {
    std::vector<int32_t> s{h.pos};
    for (int32_t p = h.parent; p >= 0; p = arena_[p].parent) s.push_back(arena_[p].pos);
    stacks.push_back(std::move(s));
  }
  std::sort(stacks.begin(), stacks.end());
  std::string key(accepting ? "A" : "-");
  for (const auto& s : stacks) {
    key.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(int32_t));
    key.push_back('|');
  }
  return key;
}

void Matcher::compact() {
  std::unordered_map<int32_t, int32_t> remap;
  std::vector<Node> fresh;
  // Copies the chain under `p` (parents first) and returns its new id.
  auto copy = [&](auto&& self, int32_t p) -> int32_t {
    if (p < 0) return -1;
    auto it = remap.find(p);
    if (it != remap.end()) return it->second;
    const int32_t parent = self(self, arena_[p].parent);
    fresh.push_back({arena_[p].pos, parent});
    const int32_t id = static_cast<int32_t>(fresh.size()) - 1;
    remap.emplace(p, id);
    return id;
  };
  for (Head& h : heads_) h.parent = copy(copy, h.parent);
  arena_ = std::move(fresh);
}

}  // namespace mlxm::grammar
