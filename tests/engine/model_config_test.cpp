#include "engine/model_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace mlxm::engine {
namespace {

using nlohmann::json;

json llama_base() {
  return json{{"architectures", {"LlamaForCausalLM"}},
              {"hidden_size", 2048},
              {"num_hidden_layers", 16},
              {"num_attention_heads", 32},
              {"num_key_value_heads", 8},
              {"intermediate_size", 8192},
              {"vocab_size", 128256},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 500000.0},
              {"max_position_embeddings", 131072},
              {"tie_word_embeddings", true},
              {"bos_token_id", 128000},
              {"eos_token_id", {128001, 128008, 128009}},
              {"torch_dtype", "bfloat16"},
              {"rope_scaling",
               {{"factor", 32.0},
                {"high_freq_factor", 4.0},
                {"low_freq_factor", 1.0},
                {"original_max_position_embeddings", 8192},
                {"rope_type", "llama3"}}}};
}

TEST(ModelConfig, ParsesLlama32WithLlama3Rope) {
  auto r = ModelConfig::parse(llama_base().dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ModelConfig& c = r.value();
  EXPECT_EQ(c.arch, Arch::kLlama);
  EXPECT_EQ(c.hidden_size, 2048);
  EXPECT_EQ(c.n_layers, 16);
  EXPECT_EQ(c.n_heads, 32);
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.intermediate_size, 8192);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.bos_token_id.value_or(-1), 128000);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{128001, 128008, 128009}));
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.quant.bits, 0);
}

TEST(ModelConfig, LinearRopeAndScalarEos) {
  json j = llama_base();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  j["eos_token_id"] = 2;
  auto r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(r->rope_scaling.factor, 2.0);
  EXPECT_EQ(r->eos_token_ids, std::vector<int>{2});
}

TEST(ModelConfig, MistralDefaultsKvHeadsAndNullHeadDim) {
  json j = llama_base();
  j["architectures"] = {"MistralForCausalLM"};
  j.erase("num_key_value_heads");
  j.erase("rope_scaling");
  j["head_dim"] = nullptr;
  auto r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->arch, Arch::kMistral);
  EXPECT_EQ(r->n_kv_heads, 32);
  EXPECT_EQ(r->head_dim, 64);
  EXPECT_EQ(r->rope_scaling.type, "");
}

TEST(ModelConfig, SlidingWindowCapsContext) {
  json j = llama_base();
  j["architectures"] = {"MistralForCausalLM"};
  j["sliding_window"] = 4096;
  auto r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->sliding_window, 4096);
  EXPECT_EQ(r->max_position_embeddings, 4096);
  j["sliding_window"] = nullptr;  // Mistral v0.2+
  r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->max_position_embeddings, 131072);
  j["architectures"] = {"Qwen2ForCausalLM"};
  j["sliding_window"] = 4096;
  j["use_sliding_window"] = false;
  r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sliding_window, 0);
  EXPECT_EQ(r->max_position_embeddings, 131072);
}

TEST(ModelConfig, Qwen2HasQkvBias) {
  json j = llama_base();
  j["architectures"] = {"Qwen2ForCausalLM"};
  j["rope_scaling"] = nullptr;
  auto r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->arch, Arch::kQwen2);
  EXPECT_TRUE(r->attention_bias);
  EXPECT_FALSE(r->qk_norm);
}

TEST(ModelConfig, Qwen3HasQkNormAndExplicitHeadDim) {
  json j = llama_base();
  j["architectures"] = {"Qwen3ForCausalLM"};
  j["hidden_size"] = 1024;
  j["num_attention_heads"] = 16;
  j["head_dim"] = 128;
  j.erase("rope_scaling");
  auto r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->arch, Arch::kQwen3);
  EXPECT_TRUE(r->qk_norm);
  EXPECT_EQ(r->head_dim, 128);
}

TEST(ModelConfig, QuantizationWithOverrides) {
  json j = llama_base();
  j["quantization"] = {{"group_size", 64},
                       {"bits", 4},
                       {"mode", "affine"},
                       {"model.layers.0.mlp.down_proj", {{"group_size", 32}, {"bits", 8}}},
                       {"lm_head", false}};
  auto r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->quant.bits, 4);
  EXPECT_EQ(r->quant.group_size, 64);
  EXPECT_EQ(r->quant_for("model.layers.0.mlp.down_proj").bits, 8);
  EXPECT_EQ(r->quant_for("model.layers.0.mlp.down_proj").group_size, 32);
  EXPECT_EQ(r->quant_for("lm_head").bits, 0);
  EXPECT_EQ(r->quant_for("model.layers.1.mlp.up_proj").bits, 4);
}

TEST(ModelConfig, AcceptsQuantizationConfigSpelling) {
  json j = llama_base();
  j["quantization_config"] = {{"group_size", 32}, {"bits", 8}};
  auto r = ModelConfig::parse(j.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->quant.bits, 8);
  EXPECT_EQ(r->quant.group_size, 32);
}

TEST(ModelConfig, Errors) {
  auto expect_error = [](const json& j, StatusCode code, const std::string& needle) {
    auto r = ModelConfig::parse(j.dump());
    ASSERT_FALSE(r.ok()) << j.dump();
    EXPECT_EQ(r.status().code(), code) << r.status().to_string();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
  };
  json j = llama_base();
  j["architectures"] = {"GPT2LMHeadModel"};
  expect_error(j, StatusCode::kUnimplemented, "GPT2LMHeadModel");
  j = llama_base();
  j["quantization"] = {{"group_size", 32}, {"bits", 4}, {"mode", "mxfp4"}};
  expect_error(j, StatusCode::kUnimplemented, "mxfp4");
  j = llama_base();
  j["quantization"] = {{"group_size", 64}, {"bits", 7}};
  expect_error(j, StatusCode::kUnimplemented, "7-bit");
  j = llama_base();
  j["quantization"] = {{"group_size", 48}, {"bits", 4}};
  expect_error(j, StatusCode::kUnimplemented, "group_size 48");
  j = llama_base();
  j.erase("hidden_size");
  expect_error(j, StatusCode::kInvalidArgument, "hidden_size");
  j = llama_base();
  j["num_key_value_heads"] = 7;
  expect_error(j, StatusCode::kInvalidArgument, "num_key_value_heads");
  j = llama_base();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_error(j, StatusCode::kUnimplemented, "yarn");
  j = llama_base();
  j["vocab_size"] = -3;
  expect_error(j, StatusCode::kInvalidArgument, "vocab_size");
  j = llama_base();
  j["eos_token_id"] = {1, "x"};
  expect_error(j, StatusCode::kInvalidArgument, "eos_token_id");
  auto bad = ModelConfig::parse("{\"architectures\": [");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("malformed JSON"), std::string::npos);
}

}  // namespace
}  // namespace mlxm::engine
