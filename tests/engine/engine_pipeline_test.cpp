// Engine::submit / collect as engine.h implements them for every engine (the CPU engine): each
// step runs at submit(), its ids wait for collect(), and previous_row_token is resolved from
// the step submitted before. Checked against forward_sample() on the same steps.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/pipeline_check.h"

namespace mlxm::engine {
namespace {

TEST(EnginePipelineTest, CpuDefaultMatchesSynchronousSteps) {
  auto e = pipeline_check::load_fixture(Device::kCpu);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->pipelined());
  pipeline_check::check_matches_sync(*e, false);
  pipeline_check::check_matches_sync(*e, true);
}

TEST(EnginePipelineTest, CpuDefaultPendingTokensTakeTheirPenalties) {
  auto e = pipeline_check::load_fixture(Device::kCpu);
  ASSERT_NE(e, nullptr);
  pipeline_check::check_pending_penalties(*e, false);
  pipeline_check::check_pending_penalties(*e, true);
}

TEST(EnginePipelineTest, CpuDefaultRejectsMisuse) {
  auto e = pipeline_check::load_fixture(Device::kCpu);
  ASSERT_NE(e, nullptr);
  pipeline_check::check_rejects_misuse(*e);
}

}  // namespace
}  // namespace mlxm::engine
