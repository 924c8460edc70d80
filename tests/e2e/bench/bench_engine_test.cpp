// E2E: `mlx-benchmark engine` (the real binary) on the bundled demo model, CPU engine: the
// JSON report's fields and consistency, the human report, and bad arguments answered with
// exit status 2 and a message naming the problem (never a crash).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "e2e/bench/bench_cli.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

std::string demo_model() { return std::string(MLXM_SOURCE_DIR) + "/models/demo"; }

TEST(BenchEngineE2E, JsonReportOnTheDemoModel) {
  const CmdResult r = run_bench("engine --model " + demo_model() +
                                " --prompt 24 --gen 6 --batch 3 --chunk 32 --threads 2 --json");
  ASSERT_TRUE(r.exited) << r.output;
  ASSERT_EQ(r.code, 0) << r.output;
  const json j = json::parse(r.output, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j.value("device", ""), "cpu");
  EXPECT_EQ(j.value("argmax", ""), "host");  // the CPU engine: argmax of forward()'s logits
  EXPECT_EQ(j.value("batch", 0), 3);
  EXPECT_EQ(j.value("prompt", 0), 24);
  EXPECT_EQ(j.value("gen", 0), 6);
  EXPECT_GT(j.value("prefill_tok_s", 0.0), 0.0);
  EXPECT_GT(j.value("decode_tok_s", 0.0), 0.0);
  EXPECT_GT(j.value("weight_bytes", 0.0), 0.0);
  // GB/s of weights = bytes per step × steps / decode time = bytes per step × tok/s / batch.
  const double gbps = j.value("weight_bytes_per_decode_step", 0.0) *
                      j.value("decode_tok_s", 0.0) / 3 / 1e9;
  EXPECT_NEAR(j.value("decode_gb_s", 0.0), gbps, 1e-6 * gbps + 1e-9);
}

// --pipeline (Engine::submit / collect, tokens fed by previous_row_token) generates the same
// tokens as the synchronous steps.
TEST(BenchEngineE2E, PipelinedDecodeGeneratesTheSameTokens) {
  const std::string args =
      "engine --model " + demo_model() + " --prompt 12 --gen 9 --batch 2 --threads 2 --json";
  const CmdResult sync = run_bench(args);
  const CmdResult piped = run_bench(args + " --pipeline");
  ASSERT_TRUE(sync.exited && piped.exited) << sync.output << piped.output;
  ASSERT_EQ(sync.code, 0) << sync.output;
  ASSERT_EQ(piped.code, 0) << piped.output;
  const json a = json::parse(sync.output, nullptr, false);
  const json b = json::parse(piped.output, nullptr, false);
  ASSERT_TRUE(a.is_object() && b.is_object()) << sync.output << piped.output;
  EXPECT_FALSE(a.value("pipeline", true));
  EXPECT_TRUE(b.value("pipeline", false));
  EXPECT_NE(a.value("decode_tokens_fnv1a", uint64_t{0}), uint64_t{0});
  EXPECT_EQ(a.value("decode_tokens_fnv1a", uint64_t{0}),
            b.value("decode_tokens_fnv1a", uint64_t{1}));
  EXPECT_GT(b.value("decode_tok_s", 0.0), 0.0);
}

TEST(BenchEngineE2E, HumanReportNamesTheArgmaxPath) {
  const CmdResult r = run_bench("engine --model " + demo_model() + " --prompt 8 --gen 2");
  ASSERT_TRUE(r.exited) << r.output;
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("greedy argmax on the host"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("decode:"), std::string::npos) << r.output;
}

TEST(BenchEngineE2E, BadArgumentsAreRejected) {
  struct Bad {
    std::string args, message;
  };
  const Bad cases[] = {
      {"engine --prompt 8", "give exactly one of --shape or --model"},
      {"engine --model " + demo_model() + " --shape llama-3.2-1b",
       "give exactly one of --shape or --model"},
      {"engine --model " + demo_model() + " --prompt 0", "--prompt >= 1"},
      {"engine --model " + demo_model() + " --batch 0", "--batch >= 1"},
      {"engine --model " + demo_model() + " --prompt 2040 --gen 64",
       "exceeds max_position_embeddings"},
      {"engine --model /nonexistent/model", "nonexistent"},
      {"engine --shape no-such-shape", "no-such-shape"},
  };
  for (const Bad& c : cases) {
    const CmdResult r = run_bench(c.args);
    ASSERT_TRUE(r.exited) << c.args << ": crashed\n" << r.output;
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

}  // namespace
}  // namespace mlxm::e2e
