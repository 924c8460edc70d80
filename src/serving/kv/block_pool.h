// KV block manager: a pool of fixed-size KV blocks with reference counts and prefix caching.
//
// A full block (block_size tokens) is identified by a chained hash: hash(parent_hash, its token
// ids). When a sequence finishes, its blocks' reference counts drop; blocks at zero go to the
// free list in LRU order but keep their hash, so a later sequence with the same prefix reuses
// them (a "hit") instead of recomputing. Allocation takes free blocks from the LRU end, evicting
// their cached hash. Block ids are opaque handles for the scheduler; the engine reads them as
// indices into its KV storage.
//
// Thread-safety: none; owned and used by one model's engine thread.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace mlxm::serving {

using BlockId = int32_t;
using BlockHash = uint64_t;

// Chained hash of one full block: depends on every token before it through parent.
BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens);

// Hashes of the full blocks of `tokens` (tokens.size() / block_size entries).
std::vector<BlockHash> hash_full_blocks(std::span<const int32_t> tokens, int block_size);

// Appends to *hashes (the hashes of tokens' first hashes->size() full blocks) those of the
// blocks up to n_full (<= tokens.size() / block_size): only the new blocks are hashed.
void extend_block_hashes(std::span<const int32_t> tokens, int block_size, size_t n_full,
                         std::vector<BlockHash>* hashes);

class BlockPool {
 public:
  BlockPool(int64_t n_blocks, int block_size, bool enable_prefix_caching = true);

  int block_size() const { return block_size_; }
  int64_t n_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  // Blocks that can be handed out now (ref count 0, cached or not).
  int64_t n_free() const { return static_cast<int64_t>(free_.size()); }
  int64_t n_used() const { return n_blocks() - n_free(); }
  int64_t n_cached() const { return static_cast<int64_t>(cached_.size()); }
  uint64_t n_hits() const { return n_hits_; }
  uint64_t n_queries() const { return n_queries_; }

  // Longest cached prefix of `block_hashes`: the blocks, in order, without taking references.
  std::vector<BlockId> find_cached_prefix(std::span<const BlockHash> block_hashes);

  // Takes a reference on blocks found by find_cached_prefix (removing them from the free list
  // when their count was 0).
  void take(std::span<const BlockId> blocks);

  // Allocates n fresh blocks (ref count 1, no hash) from the LRU end of the free list, or
  // nullopt when fewer than n are free (nothing is allocated then).
  std::optional<std::vector<BlockId>> allocate(int64_t n);

  // Drops one reference on each block. Blocks reaching 0 go to the free list; they are pushed
  // so that the LAST block of a sequence is evicted first (its prefix stays cached longest).
  void release(std::span<const BlockId> blocks);

  // Marks `block` (full, referenced) as holding the tokens whose chained hash is `hash`, so
  // later sequences can reuse it. A hash already cached by another block is left as it is.
  void cache(BlockId block, BlockHash hash);

  int ref_count(BlockId block) const { return blocks_[static_cast<size_t>(block)].ref; }

 private:
  struct Block {
    int ref = 0;
    std::optional<BlockHash> hash;
    std::list<BlockId>::iterator free_it;  // valid while ref == 0
  };
  void evict_hash(Block& b);

  int block_size_;
  bool prefix_caching_;
  std::vector<Block> blocks_;
  std::list<BlockId> free_;  // front = next to allocate (least recently freed)
  std::unordered_map<BlockHash, BlockId> cached_;
  uint64_t n_hits_ = 0;
  uint64_t n_queries_ = 0;
};

}  // namespace mlxm::serving
