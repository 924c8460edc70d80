#include "serving/kv/block_pool.h"

#include <gtest/gtest.h>

namespace mlxm::serving {
namespace {

TEST(BlockPoolTest, AllocateReleaseCounts) {
  BlockPool pool(4, 16);
  auto a = pool.allocate(3);
  ASSERT_TRUE(a);
  EXPECT_EQ(pool.n_free(), 1);
  EXPECT_FALSE(pool.allocate(2));  // all-or-nothing
  EXPECT_EQ(pool.n_free(), 1);
  pool.release(*a);
  EXPECT_EQ(pool.n_free(), 4);
  EXPECT_EQ(pool.n_used(), 0);
}

TEST(BlockPoolTest, ChainedHashDependsOnPrefix) {
  std::vector<int32_t> x = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<int32_t> y = {9, 2, 3, 4, 5, 6, 7, 8};
  auto hx = hash_full_blocks(x, 4);
  auto hy = hash_full_blocks(y, 4);
  ASSERT_EQ(hx.size(), 2u);
  EXPECT_NE(hx[1], hy[1]);  // same tokens in block 1, different parent
  EXPECT_EQ(hash_full_blocks(std::vector<int32_t>(x.begin(), x.begin() + 7), 4).size(), 1u);
}

// Extending block by block (as a sequence grows) gives the hashes of hashing it whole.
TEST(BlockPoolTest, ExtendedHashesEqualTheWholeSequences) {
  std::vector<int32_t> toks;
  std::vector<BlockHash> grown;
  for (int32_t t = 0; t < 45; ++t) {
    toks.push_back((t * 37) % 11);
    extend_block_hashes(toks, 4, toks.size() / 4, &grown);
    ASSERT_EQ(grown, hash_full_blocks(toks, 4)) << toks.size() << " tokens";
  }
  ASSERT_EQ(grown.size(), 11u);
  std::vector<BlockHash> part;
  extend_block_hashes(toks, 4, 3, &part);  // a prefix only
  EXPECT_EQ(part, std::vector<BlockHash>(grown.begin(), grown.begin() + 3));
}

TEST(BlockPoolTest, PrefixHitReusesFreedBlocks) {
  BlockPool pool(8, 4);
  std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto hashes = hash_full_blocks(toks, 4);
  auto blocks = *pool.allocate(3);
  pool.cache(blocks[0], hashes[0]);
  pool.cache(blocks[1], hashes[1]);
  pool.release(blocks);
  EXPECT_EQ(pool.n_cached(), 2);

  auto hit = pool.find_cached_prefix(hashes);
  ASSERT_EQ(hit.size(), 2u);
  EXPECT_EQ(hit[0], blocks[0]);
  EXPECT_EQ(hit[1], blocks[1]);
  pool.take(hit);
  EXPECT_EQ(pool.ref_count(blocks[0]), 1);
  EXPECT_EQ(pool.n_free(), 6);
  pool.release(hit);
}

TEST(BlockPoolTest, EvictionIsLruAndTailFirst) {
  BlockPool pool(3, 2);
  auto a = *pool.allocate(3);
  std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6};
  auto h = hash_full_blocks(toks, 2);
  for (int i = 0; i < 3; ++i) pool.cache(a[i], h[i]);
  pool.release(a);
  // Allocating one block takes the sequence's tail first; the prefix stays cached.
  auto b = *pool.allocate(1);
  EXPECT_EQ(b[0], a[2]);
  EXPECT_EQ(pool.find_cached_prefix(h).size(), 2u);
  pool.release(b);
}

TEST(BlockPoolTest, DisabledPrefixCachingNeverHits) {
  BlockPool pool(2, 2, /*enable_prefix_caching=*/false);
  auto a = *pool.allocate(1);
  std::vector<int32_t> toks = {1, 2};
  auto h = hash_full_blocks(toks, 2);
  pool.cache(a[0], h[0]);
  pool.release(a);
  EXPECT_TRUE(pool.find_cached_prefix(h).empty());
}

}  // namespace
}  // namespace mlxm::serving
