// Decoders of tokenizer.json ("decoder"): ByteLevel, Metaspace, ByteFallback, Fuse, Strip,
// Replace, Sequence. A decoder turns the token strings of a sequence into text pieces (its
// "decode chain"); the pieces are concatenated. Internal to src/tokenizer. Immutable (thread-safe).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace mlxm::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Transforms the chain in place. Output strings are valid UTF-8 when the input is.
  virtual void decode_chain(std::vector<std::string>* tokens) const = 0;
};

Result<std::unique_ptr<Decoder>> make_decoder(const nlohmann::json& j);

}  // namespace mlxm::tok
