// The engine loop on the CPU engine over the golden q4 fixture, wrapped so that it presents
// itself as a device-sampling engine whose steps overlap: the loop then takes forward_sample /
// forward_argmax one step at a time and Engine::submit / collect pipelined (the engine.h
// defaults, which sample on the host with the device's algorithm). Both give the same streams.
#include <gtest/gtest.h>

#include "engine/pipeline_check.h"
#include "serving/loop_streams_check.h"

namespace mlxm::serving {
namespace {

class AsIfOnADevice : public engine::Engine {
 public:
  explicit AsIfOnADevice(std::unique_ptr<engine::Engine> inner) : in_(std::move(inner)) {}
  Status forward(const engine::Batch& b, std::vector<float>* logits) override {
    return in_->forward(b, logits);
  }
  bool device_argmax() const override { return true; }
  bool pipelined() const override { return true; }
  const engine::ModelConfig& config() const override { return in_->config(); }
  int block_size() const override { return in_->block_size(); }
  int64_t n_kv_blocks() const override { return in_->n_kv_blocks(); }
  size_t weight_bytes() const override { return in_->weight_bytes(); }
  size_t kv_bytes() const override { return in_->kv_bytes(); }
  size_t weight_bytes_per_token() const override { return in_->weight_bytes_per_token(); }

 private:
  std::unique_ptr<engine::Engine> in_;
};

std::unique_ptr<engine::Engine> cpu_fixture() {
  auto e = engine::pipeline_check::load_fixture(engine::Device::kCpu);
  if (e == nullptr) return nullptr;
  return std::make_unique<AsIfOnADevice>(std::move(e));
}

TEST(EngineLoopStreamsTest, PipelinedStepsGiveTheStreamsOfOneAtATimeSteps) {
  loop_streams::check_pipelined_streams(cpu_fixture);
}

TEST(EngineLoopStreamsTest, PipelinedStopTokenEndsTheStreamAtTheSameToken) {
  loop_streams::check_pipelined_stop(cpu_fixture);
}

}  // namespace
}  // namespace mlxm::serving
