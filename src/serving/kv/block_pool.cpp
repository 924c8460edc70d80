#include "serving/kv/block_pool.h"

#include "core/check.h"

namespace mlxm::serving {

BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens) {
  // FNV-1a over the parent hash and the token ids, then a final avalanche (splitmix64).
  uint64_t h = 0xcbf29ce484222325ull ^ parent;
  for (int32_t t : tokens) {
    h ^= static_cast<uint32_t>(t);
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

void extend_block_hashes(std::span<const int32_t> tokens, int block_size, size_t n_full,
                         std::vector<BlockHash>* hashes) {
  const auto bs = static_cast<size_t>(block_size);
  for (size_t i = hashes->size(); i < n_full; ++i) {
    const BlockHash parent = i > 0 ? (*hashes)[i - 1] : 0;
    hashes->push_back(hash_block(parent, tokens.subspan(i * bs, bs)));
  }
}

std::vector<BlockHash> hash_full_blocks(std::span<const int32_t> tokens, int block_size) {
  std::vector<BlockHash> out;
  const size_t n_full = tokens.size() / static_cast<size_t>(block_size);
  out.reserve(n_full);
  extend_block_hashes(tokens, block_size, n_full, &out);
  return out;
}

BlockPool::BlockPool(int64_t n_blocks, int block_size, bool enable_prefix_caching)
    : block_size_(block_size), prefix_caching_(enable_prefix_caching) {
  MLXM_CHECK(n_blocks > 0 && block_size > 0);
  blocks_.resize(static_cast<size_t>(n_blocks));
  for (int64_t i = 0; i < n_blocks; ++i) {
    free_.push_back(static_cast<BlockId>(i));
    blocks_[static_cast<size_t>(i)].free_it = std::prev(free_.end());
  }
}

std::vector<BlockId> BlockPool::find_cached_prefix(std::span<const BlockHash> block_hashes) {
  std::vector<BlockId> out;
  if (!prefix_caching_) return out;
  for (BlockHash h : block_hashes) {
    ++n_queries_;
    auto it = cached_.find(h);
    if (it == cached_.end()) break;
    ++n_hits_;
    out.push_back(it->second);
  }
  return out;
}

void BlockPool::take(std::span<const BlockId> blocks) {
  for (BlockId id : blocks) {
    Block& b = blocks_[static_cast<size_t>(id)];
    if (b.ref == 0) free_.erase(b.free_it);
    ++b.ref;
  }
}

void BlockPool::evict_hash(Block& b) {
  if (!b.hash) return;
  auto it = cached_.find(*b.hash);
  if (it != cached_.end() && &blocks_[static_cast<size_t>(it->second)] == &b) cached_.erase(it);
  b.hash.reset();
}

std::optional<std::vector<BlockId>> BlockPool::allocate(int64_t n) {
  if (n < 0 || n > n_free()) return std::nullopt;
  std::vector<BlockId> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    BlockId id = free_.front();
    free_.pop_front();
    Block& b = blocks_[static_cast<size_t>(id)];
    MLXM_CHECK(b.ref == 0);
    evict_hash(b);
    b.ref = 1;
    out.push_back(id);
  }
  return out;
}

void BlockPool::release(std::span<const BlockId> blocks) {
  // Release in reverse so the sequence's tail lands nearest the allocation end of the list.
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    Block& b = blocks_[static_cast<size_t>(*it)];
    MLXM_CHECK_MSG(b.ref > 0, "releasing a free KV block");
    if (--b.ref == 0) {
      free_.push_back(*it);
      b.free_it = std::prev(free_.end());
    }
  }
}

void BlockPool::cache(BlockId block, BlockHash hash) {
  if (!prefix_caching_) return;
  Block& b = blocks_[static_cast<size_t>(block)];
  if (b.hash) return;
  if (cached_.count(hash)) return;
  b.hash = hash;
  cached_.emplace(hash, block);
}

}  // namespace mlxm::serving
