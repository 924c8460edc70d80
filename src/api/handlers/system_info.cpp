#include "api/handlers/system_info.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "api/http/json.h"
#include "core/clock.h"
#include "core/cpu_features.h"

namespace mlxm::handlers {
namespace {

std::string read_text_file(const char* path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "VmRSS:    1234 kB" in /proc/self/status, in bytes; -1 when unknown.
int64_t process_rss_bytes() {
  std::istringstream in(read_text_file("/proc/self/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      try {
        return std::stoll(line.substr(6)) * 1024;
      } catch (...) {
        return -1;
      }
    }
  }
  return -1;
}

nlohmann::json feature_list(const CpuFeatures& f) {
  nlohmann::json out = nlohmann::json::array();
  std::istringstream in(cpu_features_string(f));
  std::string name;
  while (in >> name) out.push_back(name);
  return out;
}

}  // namespace

nlohmann::json parse_meminfo(const std::string& text) {
  int64_t total_kb = -1;
  int64_t available_kb = -1;
  std::istringstream in(text);
  std::string key;
  int64_t value = 0;
  std::string unit;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (!(ls >> key >> value)) continue;
    if (key == "MemTotal:") total_kb = value;
    if (key == "MemAvailable:") available_kb = value;
  }
  if (total_kb < 0) return nullptr;
  nlohmann::json j = {{"total_bytes", total_kb * 1024}};
  j["available_bytes"] = available_kb >= 0 ? nlohmann::json(available_kb * 1024) : nullptr;
  return j;
}

nlohmann::json system_info_json(const SystemInfoDeps& deps) {
  const CpuFeatures& f = cpu_features();
  nlohmann::json j = {
      {"version", deps.version},
      {"build_type", deps.build_type},
      {"cpu",
       {{"model", f.model_name},
        {"physical_cores", f.n_physical_cores},
        {"logical_cores", f.n_logical_cores},
        {"features", feature_list(f)}}},
      {"cuda", {{"compiled", deps.cuda_compiled}, {"devices", nlohmann::json::array()}}},
      {"memory", parse_meminfo(read_text_file("/proc/meminfo"))},
  };
  if (deps.gpus) {
    nlohmann::json g = deps.gpus();
    if (g.is_array()) j["cuda"]["devices"] = std::move(g);
  }
  if (deps.cuda_unavailable_reason) {
    const std::string why = deps.cuda_unavailable_reason();
    j["cuda"]["unavailable_reason"] = why.empty() ? nlohmann::json(nullptr) : nlohmann::json(why);
  }
  const int64_t rss = process_rss_bytes();
  j["process"] = {{"pid", static_cast<int64_t>(getpid())},
                  {"rss_bytes", rss >= 0 ? nlohmann::json(rss) : nlohmann::json(nullptr)}};
  if (deps.started_ms > 0) {
    j["process"]["started_at"] = deps.started_ms / 1000;
    j["process"]["uptime_s"] = (unix_ms() - deps.started_ms) / 1000;
  }
  return j;
}

void register_system_info_route(http::Router& router, SystemInfoDeps deps) {
  auto shared = std::make_shared<SystemInfoDeps>(std::move(deps));
  router.add("GET", "/api/system", [shared](http::HttpRequest&) {
    return http::json_response(200, system_info_json(*shared));
  });
}

}  // namespace mlxm::handlers
