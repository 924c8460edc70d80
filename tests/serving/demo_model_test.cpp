// The bundled demo model (models/demo): our tokenizer, chat template and engine reproduce what
// PyTorch recorded at export (models/demo/expected.json): prompt ids, and greedy continuations
// computed by transformers on the dequantized 4-bit weights. An end-to-end numerics check on a
// trained model.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <numeric>

#include "engine/engine.h"
#include "tokenizer/chat_template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace mlxm {
namespace {

using nlohmann::json;

const std::string kDemoDir = std::string(MLXM_SOURCE_DIR) + "/models/demo";

json expected() {
  std::ifstream in(kDemoDir + "/expected.json");
  EXPECT_TRUE(in.good()) << "missing " << kDemoDir << "/expected.json";
  return json::parse(in);
}

TEST(DemoModelTest, TokenizerAndTemplateReproduceRecordedPromptIds) {
  auto tok = Tokenizer::load(kDemoDir);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  auto tmpl = ChatTemplate::load(kDemoDir);
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().to_string();
  const json exp = expected();
  for (const auto& p : exp["prompts"]) {
    const auto want = p["ids"].get<std::vector<int32_t>>();
    if (p["kind"] == "chat") {
      json ctx = {{"messages", p["messages"]}, {"add_generation_prompt", true}};
      auto text = tmpl->render(ctx);
      ASSERT_TRUE(text.ok()) << text.status().to_string();
      EXPECT_EQ(*text, p["text"].get<std::string>());
    }
    EXPECT_EQ((*tok)->encode(p["text"].get<std::string>(), p["add_special_tokens"].get<bool>()),
              want)
        << p["text"];
    // The recorded greedy text is the decode of the recorded ids.
    auto text = (*tok)->decode(p["greedy_ids"].get<std::vector<int32_t>>(), true);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, p["greedy_text"].get<std::string>());
  }
}

// Teacher-forced greedy check: at every recorded step our argmax must equal the recorded token,
// except where PyTorch's own top-2 margin is below kTieMargin (float summation order decides
// such near-ties). Our KV is f32 here so only the int8-activation path differs from PyTorch.
TEST(DemoModelTest, GreedyContinuationsMatchPyTorch) {
  constexpr double kTieMargin = 0.05;
  engine::EngineOptions opt;
  opt.kv_budget_bytes = 64ull << 20;
  opt.kv_dtype = engine::DType::kF32;
  auto eng = engine::Engine::load(kDemoDir, opt);
  ASSERT_TRUE(eng.ok()) << eng.status().to_string();
  const int vocab = (*eng)->config().vocab_size;
  int n_checked = 0, n_skipped = 0;
  const json exp = expected();
  for (const auto& p : exp["prompts"]) {
    auto ids = p["ids"].get<std::vector<int32_t>>();
    const auto greedy = p["greedy_ids"].get<std::vector<int32_t>>();
    const auto margins = p["margins"].get<std::vector<double>>();
    engine::Batch b;
    const int32_t total = static_cast<int32_t>(ids.size() + greedy.size());
    const int32_t bs = (*eng)->block_size();
    engine::BatchSeq seq;
    seq.block_table.resize(static_cast<size_t>((total + bs - 1) / bs));
    std::iota(seq.block_table.begin(), seq.block_table.end(), 0);
    // Prefill the prompt, then feed the recorded tokens one by one.
    std::vector<int32_t> step_tokens = ids;
    int32_t pos = 0;
    for (size_t i = 0; i < greedy.size(); ++i) {
      b = engine::Batch();
      for (size_t j = 0; j < step_tokens.size(); ++j) {
        b.tokens.push_back(step_tokens[j]);
        b.positions.push_back(pos + static_cast<int32_t>(j));
        b.seq_ids.push_back(0);
      }
      pos += static_cast<int32_t>(step_tokens.size());
      seq.n_ctx = pos;
      b.seqs = {seq};
      b.logit_rows = {static_cast<int32_t>(b.tokens.size()) - 1};
      std::vector<float> logits;
      ASSERT_TRUE((*eng)->forward(b, &logits).ok());
      ASSERT_EQ(logits.size(), static_cast<size_t>(vocab));
      const int32_t ours = static_cast<int32_t>(
          std::max_element(logits.begin(), logits.end()) - logits.begin());
      if (margins[i] >= kTieMargin) {
        EXPECT_EQ(ours, greedy[i]) << p["text"] << " step " << i << " margin " << margins[i];
        ++n_checked;
      } else {
        ++n_skipped;
      }
      step_tokens = {greedy[i]};
    }
  }
  EXPECT_GT(n_checked, 10 * n_skipped);  // near-ties are rare: the check has teeth
}

}  // namespace
}  // namespace mlxm
