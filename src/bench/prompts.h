// Benchmark prompts sized in tokens of the served model: short ≈ 16, medium ≈ 50 (the seed
// guide's "medium-length instruction prompt"), long ≈ 1000, or @FILE (the file's text as is).
// The size is measured with the server's POST /tokenize (vLLM / llama-server extension) so
// the count is the model's own; without it the text is sized by a words-per-token estimate
// and the prompt says so (`sized_by_server` false).
#pragma once

#include <string>

#include "bench/http_client.h"
#include "core/status.h"

namespace mlxm::bench {

struct Prompt {
  std::string name;  // "short", "medium", "long" or "@path"
  std::string text;
  int target_tokens = 0;     // 0 for @FILE
  int measured_tokens = -1;  // the server's count of `text` (no special tokens); -1 unknown
  bool sized_by_server = false;
  std::string note;  // why the size is an estimate, when it is
};

// Target size of a named prompt; error for an unknown name.
Result<int> prompt_target_tokens(const std::string& name);

// Builds the prompt `name` for `model` on the server at `base_url`.
// Errors: an unknown name, an unreadable or empty @FILE.
Result<Prompt> build_prompt(HttpClient& client, const std::string& base_url,
                            const std::string& model, const std::string& name, const Headers& auth);

}  // namespace mlxm::bench
