// The BPE model of tokenizer.json ("model": {"type": "BPE"}): merges applied by rank with a
// priority queue, byte_fallback, unk/fuse_unk, ignore_merges, continuing_subword_prefix and
// end_of_word_suffix, with a bounded word cache. Semantics follow the Rust `tokenizers` crate.
// Internal to src/tokenizer.
// Thread-safety: immutable after from_json except the word cache, which is sharded and
// mutex-protected; tokenize() may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace mlxm::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // Parses {"type": "BPE", "vocab": {...}, "merges": [...], ...}. Unknown merge tokens, a
  // non-null dropout, or malformed fields are an error.
  static Result<std::unique_ptr<BpeModel>> from_json(const nlohmann::json& j);

  // Appends the ids of one pre-token (in the model's alphabet, valid UTF-8) to *out.
  void tokenize(std::string_view word, std::vector<int32_t>* out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const StringIdMap& vocab() const { return vocab_; }

 private:
  BpeModel() = default;
  void merge_word(std::string_view word, std::vector<int32_t>* out) const;
  int32_t initial_id(std::string_view s, uint32_t cp) const;

  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  StringIdMap vocab_;
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
  std::vector<int32_t> bmp_ids_;  // single-code-point tokens below U+10000 (-1: none)
  std::optional<int32_t> unk_id_;
  std::array<int32_t, 256> byte_ids_{};  // "<0xXX>" tokens (-1: none)
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::string prefix_;  // continuing_subword_prefix
  std::string suffix_;  // end_of_word_suffix

  // Word cache: kShards independent maps, each cleared when it reaches kShardCapacity.
  static constexpr size_t kShards = 16;
  static constexpr size_t kShardCapacity = 4096;
  static constexpr size_t kMaxCachedWordBytes = 256;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  mutable std::array<Shard, kShards> cache_;
};

}  // namespace mlxm::tok
