// The engine loop on the CUDA engine: pipelined steps (Engine::submit / collect, the default
// there) give the streams of one-at-a-time steps, greedy and seeded sampled, token for token.
#include <gtest/gtest.h>

#include "engine/cuda/cuda_test_util.h"
#include "engine/pipeline_check.h"
#include "serving/loop_streams_check.h"

namespace mlxm::serving {
namespace {

std::unique_ptr<engine::Engine> cuda_fixture() {
  return engine::pipeline_check::load_fixture(engine::Device::kCuda);
}

TEST(EngineLoopCudaTest, PipelinedStepsGiveTheStreamsOfOneAtATimeSteps) {
  MLXM_SKIP_WITHOUT_CUDA();
  loop_streams::check_pipelined_streams(cuda_fixture);
}

TEST(EngineLoopCudaTest, PipelinedStopTokenEndsTheStreamAtTheSameToken) {
  MLXM_SKIP_WITHOUT_CUDA();
  loop_streams::check_pipelined_stop(cuda_fixture);
}

}  // namespace
}  // namespace mlxm::serving
