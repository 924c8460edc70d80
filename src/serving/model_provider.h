// Where handlers get models by name. Issue-5 scope: a fixed set loaded at start-up
// (`serve --model DIR ...`, named after their directories); the model pool replaces it with
// on-demand loading and eviction behind the same interface.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "serving/model_instance.h"

namespace mlxm::serving {

class ModelProvider {
 public:
  virtual ~ModelProvider() = default;
  // The model called `name`; "" means the default model. NotFound names the model;
  // InvalidArgument when name is "" and there is no default.
  virtual Result<std::shared_ptr<ModelInstance>> get(const std::string& name) = 0;
  virtual std::vector<std::shared_ptr<ModelInstance>> list() = 0;
  // A request's `keep_alive` (Ollama): how long the loaded model `name` stays after its last
  // use; negative = until evicted or unloaded, zero = unload as soon as it is idle. Replaces
  // the idle TTL for that model until it is unloaded. Providers without unloading ignore it.
  virtual void set_keep_alive(const std::string& name, std::chrono::seconds keep_alive) {
    (void)name;
    (void)keep_alive;
  }
};

class StaticModelProvider : public ModelProvider {
 public:
  // `default_model`: the name used when a request omits `model` ("" = the only model when
  // exactly one is loaded, else none).
  explicit StaticModelProvider(std::string default_model = "");
  void add(std::shared_ptr<ModelInstance> model);

  Result<std::shared_ptr<ModelInstance>> get(const std::string& name) override;
  std::vector<std::shared_ptr<ModelInstance>> list() override;

 private:
  std::mutex mu_;
  std::string default_model_;
  std::map<std::string, std::shared_ptr<ModelInstance>> models_;
};

}  // namespace mlxm::serving
