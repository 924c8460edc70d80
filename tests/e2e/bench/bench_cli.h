// E2E helpers for the `mlx-benchmark` binary: run it with arguments, capture its exit and
// output (a crash shows as exited == false).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace mlxm::e2e {

struct CmdResult {
  bool exited = false;  // false: killed by a signal (a crash)
  int code = -1;
  std::string output;
};

inline std::string bench_binary() { return std::string(MLXM_BINARY_DIR) + "/bin/mlx-benchmark"; }

// A per-process path under the test's temporary directory.
inline std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/bench_e2e_" + std::to_string(getpid()) + "_" + name;
}

// Runs `mlx-benchmark <args>` through the shell, stdout and stderr together.
inline CmdResult run_bench(const std::string& args) {
  const std::string log = temp_path("cmd.log");
  const std::string cmd = bench_binary() + " " + args + " > " + log + " 2>&1";
  const int st = std::system(cmd.c_str());
  CmdResult r;
  r.exited = WIFEXITED(st);
  r.code = r.exited ? WEXITSTATUS(st) : -1;
  std::ifstream in(log);
  r.output.assign(std::istreambuf_iterator<char>(in), {});
  std::filesystem::remove(log);
  return r;
}

}  // namespace mlxm::e2e
