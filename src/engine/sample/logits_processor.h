// A per-sequence hook on the logits row before sampling (constrained decoding: grammars, JSON
// schemas, forced tool calls). The engine loop calls process() on the sequence's row, samples
// from what is left, then tells the processor which token was chosen with accept().
//
// Thread-safety: called only on the engine thread that owns the sequence; one instance per
// sequence (the state advances with every accepted token).
#pragma once

#include <cstdint>
#include <span>

namespace mlxm::engine {

class LogitsProcessor {
 public:
  virtual ~LogitsProcessor() = default;
  // Restricts `logits` (vocab_size floats) in place: disallowed ids become -inf. Returns false
  // when no token may follow at all (the constraint is complete and no end-of-sequence id was
  // given): the caller ends the sequence as a normal stop without sampling.
  // REQUIRES: when it returns true, at least one entry of `logits` is finite.
  virtual bool process(std::span<float> logits) = 0;
  // The token sampled from the processed row.
  virtual void accept(int32_t token) = 0;
};

}  // namespace mlxm::engine
