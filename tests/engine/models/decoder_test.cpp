// The engine end to end on small random models written by make_model: loading, batch
// validation, and consistency of a sequence's logits whether it runs alone, in chunks, or
// batched with other sequences at other positions; fast path against the reference path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/device.h"
#include "engine/engine.h"
#include "engine/loader/make_model.h"
#include "engine/test_util.h"

namespace mlxm::engine {
namespace {

using testing::TempDir;

struct Variant {
  const char* name;
  ModelSpec spec;
};
void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

ModelSpec tiny(const char* arch, int bits, bool tied) {
  ModelSpec s;
  s.architecture = arch;
  s.hidden_size = 64;
  s.n_layers = 2;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.intermediate_size = 128;
  s.vocab_size = 160;
  s.bits = bits;
  s.group_size = 32;
  s.tie_word_embeddings = tied;
  s.random_norms = true;
  s.init_std = 0.08f;  // larger than HF's 0.02 so logits are far from flat
  s.bias_std = 0.1f;
  s.rope_theta = 10000.0;
  if (std::string(arch) == "LlamaForCausalLM") {
    s.rope_scaling.type = "llama3";
    s.rope_scaling.factor = 8.0;
    s.rope_scaling.original_max_position_embeddings = 64;  // scaling visible at short lengths
  }
  if (std::string(arch) == "Qwen3ForCausalLM") s.head_dim = 32;  // != hidden / heads, as in Qwen3
  return s;
}

std::vector<Variant> variants() {
  std::vector<Variant> v = {
      {"llama_q4_untied", tiny("LlamaForCausalLM", 4, false)},
      {"llama_bf16_tied", tiny("LlamaForCausalLM", 0, true)},
      {"mistral_q8", tiny("MistralForCausalLM", 8, false)},
      {"qwen2_q4_bias", tiny("Qwen2ForCausalLM", 4, true)},
      {"qwen3_q8_qknorm", tiny("Qwen3ForCausalLM", 8, true)},
      {"llama_q3", tiny("LlamaForCausalLM", 3, false)},
      {"llama_q5", tiny("LlamaForCausalLM", 5, true)},
      {"qwen2_q2_g64", tiny("Qwen2ForCausalLM", 2, false)},
      {"mistral_f16", tiny("MistralForCausalLM", 0, false)},
  };
  v[v.size() - 2].spec.group_size = 64;
  v.back().spec.dtype = DType::kF16;
  // Mixed formats: q/k/v and gate/up cannot be fused.
  Variant mixed{"llama_mixed", tiny("LlamaForCausalLM", 4, false)};
  mixed.spec.bits_overrides["model.layers.0.self_attn.k_proj"] = 8;
  mixed.spec.bits_overrides["model.layers.1.mlp.up_proj"] = 0;
  mixed.spec.bits_overrides["lm_head"] = 6;
  v.push_back(mixed);
  return v;
}

// One sequence's share of a step.
struct Piece {
  int seq;         // index into the caller's sequences
  int begin, end;  // token positions [begin, end)
};

struct Seq {
  std::vector<int32_t> tokens;
  std::vector<int32_t> blocks;
};

// Runs steps; returns logits per (seq, position) for every token run.
std::map<std::pair<int, int>, std::vector<float>> run_steps(
    Engine& e, const std::vector<Seq>& seqs, const std::vector<std::vector<Piece>>& steps) {
  std::map<std::pair<int, int>, std::vector<float>> out;
  const int vocab = e.config().vocab_size;
  for (const auto& step : steps) {
    Batch b;
    for (const Piece& p : step) {
      const int slot = static_cast<int>(b.seqs.size());
      b.seqs.push_back(BatchSeq{seqs[static_cast<size_t>(p.seq)].blocks, p.end});
      for (int pos = p.begin; pos < p.end; ++pos) {
        b.logit_rows.push_back(static_cast<int32_t>(b.tokens.size()));
        b.tokens.push_back(seqs[static_cast<size_t>(p.seq)].tokens[static_cast<size_t>(pos)]);
        b.positions.push_back(pos);
        b.seq_ids.push_back(slot);
      }
    }
    std::vector<float> logits;
    Status st = e.forward(b, &logits);
    EXPECT_TRUE(st.ok()) << st.to_string();
    if (!st.ok()) return out;
    size_t row = 0;
    for (const Piece& p : step) {
      for (int pos = p.begin; pos < p.end; ++pos, ++row) {
        out[{p.seq, pos}] =
            std::vector<float>(logits.begin() + static_cast<long>(row * vocab),
                               logits.begin() + static_cast<long>((row + 1) * vocab));
      }
    }
  }
  return out;
}

double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float x : a) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}
double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}
double rel_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - ref[i]) * static_cast<double>(a[i] - ref[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

std::vector<Seq> make_seqs() {
  Seq a, b;
  for (int i = 0; i < 21; ++i) a.tokens.push_back((i * 37 + 11) % 160);
  for (int i = 0; i < 13; ++i) b.tokens.push_back((i * 53 + 5) % 160);
  a.blocks = {5, 2, 9, 0, 7, 11};  // block size 4: 21 tokens need 6 blocks, out of order
  b.blocks = {3, 1, 10, 6};
  return {a, b};
}

class DecoderTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override { ASSERT_TRUE(make_model(GetParam().spec, "", dir_.path(), 1234).ok()); }
  std::unique_ptr<Engine> load(bool reference, DType kv = DType::kF16) {
    EngineOptions o;
    o.block_size = 4;
    o.n_kv_blocks = 16;
    o.n_threads = 2;
    o.reference = reference;
    o.kv_dtype = kv;
    auto e = Engine::load(dir_.path(), o);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  TempDir dir_;
};

// Tolerance of "the same logits": the fast path's summation order may depend on the rows
// around a token, so allow 1e-4 of the largest logit.
constexpr double kSameTol = 1e-4;

TEST_P(DecoderTest, AloneChunkedAndBatchedAgree) {
  auto e = load(false);
  ASSERT_NE(e, nullptr);
  const auto seqs = make_seqs();
  const auto alone = run_steps(*e, seqs, {{{0, 0, 21}}});
  ASSERT_EQ(alone.size(), 21u);
  // Chunked prefill then decode steps, A's blocks overwritten by the same values.
  const auto chunked =
      run_steps(*e, seqs, {{{0, 0, 7}}, {{0, 7, 13}}, {{0, 13, 19}}, {{0, 19, 20}}, {{0, 20, 21}}});
  // Batched with B at other positions: B prefills while A is mid-prefill, then both decode.
  const auto batched = run_steps(*e, seqs,
                                 {{{1, 0, 9}, {0, 0, 5}},
                                  {{0, 5, 16}, {1, 9, 10}},
                                  {{1, 10, 11}, {0, 16, 20}},
                                  {{0, 20, 21}, {1, 11, 13}}});
  const double scale = max_abs(alone.at({0, 20}));
  ASSERT_GT(scale, 1e-3) << "logits are degenerate";
  for (int pos = 0; pos < 21; ++pos) {
    const auto& ref = alone.at({0, pos});
    EXPECT_LE(max_diff(chunked.at({0, pos}), ref), kSameTol * scale + 1e-6)
        << "chunked pos " << pos;
    EXPECT_LE(max_diff(batched.at({0, pos}), ref), kSameTol * scale + 1e-6)
        << "batched pos " << pos;
  }
  // B alone gives what it gave inside the batch.
  const auto b_alone = run_steps(*e, seqs, {{{1, 0, 13}}});
  for (int pos = 0; pos < 13; ++pos) {
    EXPECT_LE(max_diff(batched.at({1, pos}), b_alone.at({1, pos})), kSameTol * scale + 1e-6) << pos;
  }
  // Different positions give different logits (the cache and rope matter).
  EXPECT_GT(max_diff(alone.at({0, 3}), alone.at({0, 4})), 1e-3 * scale);
}

// The fast path (threaded, SIMD, int8 activations for 4/8-bit, F16 KV) against the reference
// path (single-thread fp32/fp64 math on the same weights, F32 KV). Stated tolerance: relative
// L2 error of the logits <= 3% for int8-activation formats, <= 0.5% otherwise.
TEST_P(DecoderTest, FastPathMatchesReference) {
  for (DType kv : {DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(kv));
    auto fast = load(false, kv);
    auto ref = load(true);
    ASSERT_NE(fast, nullptr);
    ASSERT_NE(ref, nullptr);
    const auto seqs = make_seqs();
    const std::vector<std::vector<Piece>> steps = {{{0, 0, 12}, {1, 0, 4}},
                                                   {{0, 12, 21}, {1, 4, 13}}};
    const auto a = run_steps(*fast, seqs, steps);
    const auto b = run_steps(*ref, seqs, steps);
    const int bits = GetParam().spec.bits;
    // BF16 KV keeps 8 mantissa bits (relative rounding 2^-9): allow 1% more.
    const double tol =
        ((bits == 4 || bits == 8) ? 0.03 : 0.005) + (kv == DType::kBF16 ? 0.01 : 0.0);
    double worst = 0;
    int agree = 0, total = 0;
    for (const auto& [key, ref_logits] : b) {
      const auto& f = a.at(key);
      worst = std::max(worst, rel_l2(f, ref_logits));
      agree += std::max_element(f.begin(), f.end()) - f.begin() ==
               std::max_element(ref_logits.begin(), ref_logits.end()) - ref_logits.begin();
      ++total;
    }
    EXPECT_LE(worst, tol);
    EXPECT_GE(agree, total * 8 / 10) << "argmax agreement " << agree << "/" << total;
    RecordProperty(std::string("worst_rel_l2_") + dtype_name(kv), std::to_string(worst));
  }
}

TEST_P(DecoderTest, ReferencePathChunkedMatchesAlone) {
  auto e = load(true);
  ASSERT_NE(e, nullptr);
  const auto seqs = make_seqs();
  const auto alone = run_steps(*e, seqs, {{{0, 0, 21}}});
  const auto chunked = run_steps(*e, seqs, {{{1, 0, 13}, {0, 0, 3}}, {{0, 3, 21}}});
  const double scale = max_abs(alone.at({0, 20}));
  for (int pos = 0; pos < 21; ++pos) {
    EXPECT_LE(max_diff(chunked.at({0, pos}), alone.at({0, pos})), 1e-5 * scale) << pos;
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, DecoderTest, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return std::string(info.param.name); });

class DecoderErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(make_model(tiny("LlamaForCausalLM", 4, false), "", dir_.path(), 1).ok());
  }
  TempDir dir_;
};

TEST_F(DecoderErrors, InvalidBatchesAreRejected) {
  EngineOptions o;
  o.block_size = 4;
  o.n_kv_blocks = 8;
  auto e = Engine::load(dir_.path(), o);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  auto good = [] {
    Batch b;
    b.tokens = {1, 2, 3};
    b.positions = {0, 1, 2};
    b.seq_ids = {0, 0, 0};
    b.seqs = {BatchSeq{{4}, 3}};
    b.logit_rows = {2};
    return b;
  };
  std::vector<float> logits;
  ASSERT_TRUE((*e)->forward(good(), &logits).ok());
  EXPECT_EQ(logits.size(), 160u);
  auto expect_bad = [&](Batch b, const std::string& needle) {
    Status st = (*e)->forward(b, &logits);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.to_string();
  };
  Batch b = good();
  b.seqs[0].block_table = {8};
  expect_bad(b, "block_table[0]");
  b = good();
  b.positions[2] = 3;
  expect_bad(b, "positions[2]");
  b = good();
  b.tokens[1] = 160;
  expect_bad(b, "tokens[1]");
  b = good();
  b.logit_rows = {3};
  expect_bad(b, "logit_rows[0]");
  b = good();
  b.seq_ids[0] = 1;
  expect_bad(b, "seq_ids[0]");
  b = good();
  b.positions.pop_back();
  expect_bad(b, "differ in length");
  b = good();
  b.seqs[0].n_ctx = 5;  // needs 2 blocks
  expect_bad(b, "needs 2");
  b = good();
  b.seqs[0].n_ctx = 100000;
  expect_bad(b, "max_position_embeddings");
  expect_bad(Batch{}, "no tokens");
}

TEST_F(DecoderErrors, ConfigAndFilesMustAgree) {
  const std::string cfg_path = dir_.file("config.json");
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(cfg_path));
  auto load_with = [&](const nlohmann::json& c) {
    std::ofstream(cfg_path) << c.dump();
    return Engine::load(dir_.path(), EngineOptions{});
  };
  auto c = cfg;
  c["num_hidden_layers"] = 3;
  auto r = load_with(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model.layers.2."), std::string::npos)
      << r.status().to_string();
  c = cfg;
  c["num_hidden_layers"] = 1;
  r = load_with(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unexpected tensor 'model.layers.1."), std::string::npos)
      << r.status().to_string();
  c = cfg;
  c["intermediate_size"] = 96;
  r = load_with(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("has shape"), std::string::npos) << r.status().to_string();
  c = cfg;
  c["quantization"]["bits"] = 8;
  c.erase("quantization_config");
  r = load_with(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("has shape"), std::string::npos) << r.status().to_string();
  c = cfg;
  c.erase("quantization");
  c.erase("quantization_config");
  r = load_with(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not quantize"), std::string::npos)
      << r.status().to_string();
  // Without a usable GPU (or without the CUDA engine compiled in) --device cuda is Unavailable.
  EngineOptions cuda;
  cuda.device = Device::kCuda;
  std::ofstream(cfg_path) << cfg.dump();
  auto g = Engine::load(dir_.path(), cuda);
  if (cuda_device_count() == 0) {
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), StatusCode::kUnavailable) << g.status().to_string();
  }
}

TEST(MakeModel, ShardedModelMatchesSingleFile) {
  TempDir one, many;
  ModelSpec s = tiny("LlamaForCausalLM", 4, false);
  ASSERT_TRUE(make_model(s, "", one.path(), 99).ok());
  s.shard_bytes = 20000;
  ASSERT_TRUE(make_model(s, "", many.path(), 99).ok());
  ASSERT_TRUE(std::filesystem::exists(many.file("model.safetensors.index.json")));
  ASSERT_FALSE(std::filesystem::exists(many.file("model.safetensors")));
  EngineOptions o;
  o.block_size = 4;
  o.n_kv_blocks = 16;
  auto a = Engine::load(one.path(), o);
  auto b = Engine::load(many.path(), o);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  const auto seqs = make_seqs();
  const auto la = run_steps(**a, seqs, {{{0, 0, 10}}});
  const auto lb = run_steps(**b, seqs, {{{0, 0, 10}}});
  for (int p = 0; p < 10; ++p) EXPECT_EQ(la.at({0, p}), lb.at({0, p}));
  // Another seed gives other weights.
  TempDir other;
  ASSERT_TRUE(make_model(tiny("LlamaForCausalLM", 4, false), "", other.path(), 100).ok());
  auto c = Engine::load(other.path(), o);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(run_steps(**c, seqs, {{{0, 0, 1}}}).at({0, 0}), la.at({0, 0}));
}

TEST(MakeModel, TinyWithLlama3TokenizerLoadsAndRuns) {
  const std::string tok = testing::llama3_tokenizer_dir();
  if (!std::filesystem::exists(tok + "/tokenizer.json"))
    GTEST_SKIP() << "run scripts/setup (npm tokenizers)";
  TempDir dir;
  auto spec = model_spec_for_shape("tiny");
  ASSERT_TRUE(spec.ok());
  spec->bits = 4;
  ASSERT_TRUE(make_model(*spec, tok, dir.path(), 0).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.file("tokenizer.json")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("tokenizer_config.json")));
  auto cfg = ModelConfig::load(dir.path());
  ASSERT_TRUE(cfg.ok()) << cfg.status().to_string();
  EXPECT_EQ(cfg->vocab_size, 128256);
  EXPECT_EQ(cfg->bos_token_id.value_or(-1), 128000);
  EXPECT_EQ(cfg->eos_token_ids, std::vector<int>{128009});
  EXPECT_EQ(cfg->quant.bits, 4);
  auto e = Engine::load(dir.path(), EngineOptions{});
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  Batch b;
  b.tokens = {128000, 9906, 1917};
  b.positions = {0, 1, 2};
  b.seq_ids = {0, 0, 0};
  b.seqs = {BatchSeq{{0}, 3}};
  b.logit_rows = {2};
  std::vector<float> logits;
  ASSERT_TRUE((*e)->forward(b, &logits).ok());
  ASSERT_EQ(logits.size(), 128256u);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  EXPECT_GT(max_abs(logits), 0.0);
  EXPECT_GT((*e)->weight_bytes_per_token(), 0u);
  EXPECT_LT((*e)->weight_bytes_per_token(), (*e)->weight_bytes());
}

TEST(MakeModel, UnknownShapeIsAnError) {
  auto s = model_spec_for_shape("gpt-5");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("gpt-5"), std::string::npos);
}

}  // namespace
}  // namespace mlxm::engine
