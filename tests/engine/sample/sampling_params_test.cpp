#include "engine/sample/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

namespace mlxm::engine {
namespace {

void expect_invalid(const std::function<void(SamplingParams&)>& edit, const std::string& field) {
  SamplingParams p;
  edit(p);
  const Status st = validate_sampling_params(p, 100);
  ASSERT_FALSE(st.ok()) << field;
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << field;
  EXPECT_NE(st.message().find(field), std::string::npos) << st.message();
}

TEST(SamplingParamsTest, DefaultsAndBoundsAreValid) {
  SamplingParams p;
  EXPECT_TRUE(validate_sampling_params(p, 100).ok());
  p.temperature = 0.0f;
  p.top_k = -1;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.frequency_penalty = -2.0f;
  p.presence_penalty = 2.0f;
  p.repetition_penalty = 0.5f;
  p.top_logprobs = 20;
  p.logit_bias = {{0, -100.0f}, {99, 100.0f}};
  EXPECT_TRUE(validate_sampling_params(p, 100).ok());
  p.temperature = 2.0f;
  p.top_k = 1000;  // larger than the vocabulary: off
  EXPECT_TRUE(validate_sampling_params(p, 100).ok());
}

TEST(SamplingParamsTest, RejectsOutOfRangeNamingTheField) {
  const float nan = std::nanf("");
  expect_invalid([](SamplingParams& p) { p.temperature = -0.1f; }, "temperature");
  expect_invalid([](SamplingParams& p) { p.temperature = 2.5f; }, "temperature");
  expect_invalid([&](SamplingParams& p) { p.temperature = nan; }, "temperature");
  expect_invalid([](SamplingParams& p) { p.top_k = -2; }, "top_k");
  expect_invalid([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p");
  expect_invalid([](SamplingParams& p) { p.top_p = 1.01f; }, "top_p");
  expect_invalid([&](SamplingParams& p) { p.top_p = nan; }, "top_p");
  expect_invalid([](SamplingParams& p) { p.min_p = -0.01f; }, "min_p");
  expect_invalid([](SamplingParams& p) { p.min_p = 1.5f; }, "min_p");
  expect_invalid([](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "repetition_penalty");
  expect_invalid([&](SamplingParams& p) { p.repetition_penalty = nan; }, "repetition_penalty");
  expect_invalid([](SamplingParams& p) { p.frequency_penalty = 2.1f; }, "frequency_penalty");
  expect_invalid([](SamplingParams& p) { p.presence_penalty = -2.1f; }, "presence_penalty");
  expect_invalid([](SamplingParams& p) { p.top_logprobs = 21; }, "top_logprobs");
  expect_invalid([](SamplingParams& p) { p.top_logprobs = -1; }, "top_logprobs");
  expect_invalid([](SamplingParams& p) { p.logit_bias = {{100, 1.0f}}; }, "logit_bias");
  expect_invalid([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; }, "logit_bias");
  expect_invalid([](SamplingParams& p) { p.logit_bias = {{5, 100.5f}}; }, "logit_bias");
  expect_invalid([&](SamplingParams& p) { p.logit_bias = {{5, nan}}; }, "logit_bias");
}

TEST(SamplingParamsTest, GreedyAndLogprobFlags) {
  SamplingParams p;
  EXPECT_FALSE(p.greedy());
  p.temperature = 0.0f;
  EXPECT_TRUE(p.greedy());
  p.temperature = 1e-6f;
  EXPECT_TRUE(p.greedy());
  EXPECT_FALSE(p.wants_logprobs());
  p.top_logprobs = 3;
  EXPECT_TRUE(p.wants_logprobs());
}

}  // namespace
}  // namespace mlxm::engine
