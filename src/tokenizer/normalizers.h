// Normalizers of tokenizer.json ("normalizer"): NFC, NFKC, NFD, NFKD, Prepend, Replace, Lowercase,
// Strip, Sequence. Internal to src/tokenizer. Immutable after construction (thread-safe).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace mlxm::tok {

class Regex;

// A tokenizer.json pattern object: {"String": literal} or {"Regex": oniguruma-pattern}.
Result<std::shared_ptr<const Regex>> make_pattern(const nlohmann::json& p);

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // REQUIRES: text is valid UTF-8. Returns valid UTF-8.
  virtual std::string normalize(std::string text) const = 0;
};

// Builds a normalizer from its JSON object; null JSON gives nullptr. Unsupported types are an
// Unimplemented status naming the type.
Result<std::unique_ptr<Normalizer>> make_normalizer(const nlohmann::json& j);

}  // namespace mlxm::tok
