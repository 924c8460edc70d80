// A per-sequence hook on the logits row before sampling (constrained decoding: grammars, JSON
// schemas, forced tool calls). The engine loop calls process() on the sequence's row, samples
// from what is left, then tells the processor which token was chosen with accept(). Engines
// that sample on the device take the same restriction as a bitmask (allowed()), applied where
// the logits are.
//
// Thread-safety: called only on the engine thread that owns the sequence; one instance per
// sequence (the state advances with every accepted token).
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace mlxm::engine {

class LogitsProcessor {
 public:
  virtual ~LogitsProcessor() = default;
  // Restricts `logits` (vocab_size floats) in place: disallowed ids become -inf. Returns false
  // when no token may follow at all (the constraint is complete and no end-of-sequence id was
  // given): the caller ends the sequence as a normal stop without sampling.
  // REQUIRES: when it returns true, at least one entry of `logits` is finite.
  virtual bool process(std::span<float> logits) = 0;
  // What process() would do as a bitmask over `vocab` ids: *bits gets ceil(vocab / 64) words,
  // bit i % 64 of word i / 64 set where process() leaves the logit alone. Returns what
  // process() would. This default runs process() over a row of zeros; processors that hold a
  // mask give it directly.
  virtual bool allowed(int32_t vocab, std::vector<uint64_t>* bits) {
    std::vector<float> row(static_cast<size_t>(vocab), 0.0f);
    const bool any = process(row);
    bits->assign((row.size() + 63) / 64, 0);
    for (size_t i = 0; i < row.size(); ++i) {
      if (row[i] != -std::numeric_limits<float>::infinity()) {
        (*bits)[i / 64] |= uint64_t{1} << (i % 64);
      }
    }
    return any;
  }
  // The token sampled from the processed row.
  virtual void accept(int32_t token) = 0;
};

}  // namespace mlxm::engine
