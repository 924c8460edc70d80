// The CUDA engine's pipelined steps (Engine::submit / collect): each step is enqueued behind the
// one in flight, its tokens read on the device from the step before (previous_row_token).
// Greedy and sampled steps give the ids of the synchronous calls on the same steps exactly,
// with graphs and without.
#include <gtest/gtest.h>

#include <cstdlib>

#include "engine/cuda/cuda_test_util.h"
#include "engine/engine.h"
#include "engine/pipeline_check.h"

namespace mlxm::engine {
namespace {

TEST(CudaPipelineTest, MatchesSynchronousSteps) {
  MLXM_SKIP_WITHOUT_CUDA();
  auto e = pipeline_check::load_fixture(Device::kCuda);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->pipelined());
  pipeline_check::check_matches_sync(*e, false);
  pipeline_check::check_matches_sync(*e, true);
}

TEST(CudaPipelineTest, MatchesSynchronousStepsWithoutGraphs) {
  MLXM_SKIP_WITHOUT_CUDA();
  ::setenv("MLXM_CUDA_GRAPHS", "0", 1);
  auto e = pipeline_check::load_fixture(Device::kCuda);
  ::unsetenv("MLXM_CUDA_GRAPHS");
  ASSERT_NE(e, nullptr);
  pipeline_check::check_matches_sync(*e, false);
  pipeline_check::check_matches_sync(*e, true);
}

TEST(CudaPipelineTest, PendingTokensTakeTheirPenalties) {
  MLXM_SKIP_WITHOUT_CUDA();
  auto e = pipeline_check::load_fixture(Device::kCuda);
  ASSERT_NE(e, nullptr);
  pipeline_check::check_pending_penalties(*e, false);
  pipeline_check::check_pending_penalties(*e, true);
}

TEST(CudaPipelineTest, RejectsMisuse) {
  MLXM_SKIP_WITHOUT_CUDA();
  auto e = pipeline_check::load_fixture(Device::kCuda);
  ASSERT_NE(e, nullptr);
  pipeline_check::check_rejects_misuse(*e);
}

}  // namespace
}  // namespace mlxm::engine
