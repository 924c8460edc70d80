// The CUDA engine's pipelined steps (Engine::submit / collect): each step is enqueued behind the
// one in flight, its tokens read on the device from the step before (previous_row_token).
// Greedy and sampled steps give the ids of the synchronous calls on the same steps exactly,
// with graphs and without.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "engine/cuda/cuda_test_util.h"
#include "engine/engine.h"
#include "engine/pipeline_check.h"

namespace mlxm::engine {
namespace {

std::unique_ptr<Engine> load_cuda() {
  EngineOptions o;
  o.device = Device::kCuda;
  o.kv_dtype = DType::kF16;
  o.block_size = 16;
  o.n_kv_blocks = 16;
  auto e = Engine::load(std::string(MLXM_SOURCE_DIR) + "/tests/engine/golden/llama3_q4_g32", o);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(CudaPipelineTest, MatchesSynchronousSteps) {
  MLXM_SKIP_WITHOUT_CUDA();
  auto e = load_cuda();
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->pipelined());
  pipeline_check::check_matches_sync(*e, false);
  pipeline_check::check_matches_sync(*e, true);
}

TEST(CudaPipelineTest, MatchesSynchronousStepsWithoutGraphs) {
  MLXM_SKIP_WITHOUT_CUDA();
  ::setenv("MLXM_CUDA_GRAPHS", "0", 1);
  auto e = load_cuda();
  ::unsetenv("MLXM_CUDA_GRAPHS");
  ASSERT_NE(e, nullptr);
  pipeline_check::check_matches_sync(*e, false);
  pipeline_check::check_matches_sync(*e, true);
}

TEST(CudaPipelineTest, RejectsMisuse) {
  MLXM_SKIP_WITHOUT_CUDA();
  auto e = load_cuda();
  ASSERT_NE(e, nullptr);
  pipeline_check::check_rejects_misuse(*e);
}

}  // namespace
}  // namespace mlxm::engine
