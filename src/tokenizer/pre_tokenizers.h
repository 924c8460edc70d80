// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): Sequence, Split (regex or string; behaviour
// Removed/Isolated/MergedWithPrevious/MergedWithNext/Contiguous; invert), ByteLevel, Metaspace,
// Digits, Punctuation, Whitespace, WhitespaceSplit. Semantics follow the Rust `tokenizers` crate.
// Internal to src/tokenizer. Immutable after construction (thread-safe).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace mlxm::tok {

// One piece of pre-tokenized text. `at_start`: the piece begins at offset 0 of the input text
// (what Metaspace's prepend_scheme "first" looks at).
struct Piece {
  std::string text;
  bool at_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits (and possibly rewrites) every piece. REQUIRES: pieces hold valid UTF-8.
  virtual void pre_tokenize(std::vector<Piece>* pieces) const = 0;
};

Result<std::unique_ptr<PreTokenizer>> make_pre_tokenizer(const nlohmann::json& j);

class Regex;
// The Llama 3 / Qwen / GPT-4o shape, Sequence[Split(Regex, Isolated, invert=false),
// ByteLevel(add_prefix_space=false, use_regex=false)], lets the tokenizer stream regex matches
// straight into the model without materialising pieces. Returns the Split regex for that shape,
// null otherwise (the generic path is then used; both give the same result).
std::shared_ptr<const Regex> byte_level_split_fast_path(const nlohmann::json& j);

}  // namespace mlxm::tok
