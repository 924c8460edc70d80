// The golden q4 fixture (tests/engine/golden/llama3_q4_g32) on the CUDA engine and one step
// over it, shared by the device-sampling tests (cuda_sample_test, cuda_logprobs_test,
// cuda_mask_test), which compare what the engine samples with the host twins on its logits.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace mlxm::engine::testing {

// The fixture with an F16 KV cache of 64 blocks of 16 tokens; null (with a test failure) when
// it does not load.
inline std::unique_ptr<Engine> load_golden_cuda() {
  EngineOptions o;
  o.device = Device::kCuda;
  o.kv_dtype = DType::kF16;
  o.block_size = 16;
  o.n_kv_blocks = 64;
  auto loaded =
      Engine::load(std::string(MLXM_SOURCE_DIR) + "/tests/engine/golden/llama3_q4_g32", o);
  EXPECT_TRUE(loaded.ok()) << loaded.status().to_string();
  return loaded.ok() ? std::move(loaded).value() : nullptr;
}

// One sequence's prefill of n tokens (i · mul + add) % vocab in KV block `block`, with logits
// for `rows`.
inline Batch golden_prefill(int n, int vocab, int mul, int add, int32_t block,
                            std::vector<int32_t> rows) {
  Batch b;
  for (int i = 0; i < n; ++i) {
    b.tokens.push_back((i * mul + add) % vocab);
    b.positions.push_back(i);
    b.seq_ids.push_back(0);
  }
  b.seqs = {BatchSeq{{block}, n}};
  b.logit_rows = std::move(rows);
  return b;
}

}  // namespace mlxm::engine::testing
