// Engine::submit / collect as engine.h implements them for every engine (the CPU engine): each
// step runs at submit(), its ids wait for collect(), and previous_row_token is resolved from
// the step submitted before. Checked against forward_sample() on the same steps.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/pipeline_check.h"

namespace mlxm::engine {
namespace {

std::unique_ptr<Engine> load_cpu() {
  EngineOptions o;
  o.block_size = 16;
  o.n_kv_blocks = 16;
  o.n_threads = 1;
  auto e = Engine::load(std::string(MLXM_SOURCE_DIR) + "/tests/engine/golden/llama3_q4_g32", o);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(EnginePipelineTest, CpuDefaultMatchesSynchronousSteps) {
  auto e = load_cpu();
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->pipelined());
  pipeline_check::check_matches_sync(*e, false);
  pipeline_check::check_matches_sync(*e, true);
}

TEST(EnginePipelineTest, CpuDefaultRejectsMisuse) {
  auto e = load_cpu();
  ASSERT_NE(e, nullptr);
  pipeline_check::check_rejects_misuse(*e);
}

}  // namespace
}  // namespace mlxm::engine
