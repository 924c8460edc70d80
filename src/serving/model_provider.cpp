#include "serving/model_provider.h"

namespace mlxm::serving {

StaticModelProvider::StaticModelProvider(std::string default_model)
    : default_model_(std::move(default_model)) {}

void StaticModelProvider::add(std::shared_ptr<ModelInstance> model) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string name = model->name();
  models_[name] = std::move(model);
}

Result<std::shared_ptr<ModelInstance>> StaticModelProvider::get(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string want = name;
  if (want.empty()) {
    want = default_model_;
    if (want.empty() && models_.size() == 1) want = models_.begin()->first;
    if (want.empty()) {
      return invalid_argument("'model' is required: no default model is configured "
                              "(set MLX_SERVER_DEFAULT_MODEL)");
    }
  }
  auto it = models_.find(want);
  if (it == models_.end()) return not_found("the model '" + want + "' does not exist");
  return it->second;
}

std::vector<std::shared_ptr<ModelInstance>> StaticModelProvider::list() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<ModelInstance>> out;
  for (auto& [name, m] : models_) out.push_back(m);
  return out;
}

}  // namespace mlxm::serving
