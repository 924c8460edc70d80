// tests/pool/fake_hub.mjs for the pool e2e tests: a child `node` process serving the repos
// acme/tiny and acme/tiny2 (tiny q4 models made once per build tree by mlx-benchmark), and a
// temporary HF_HOME.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "test_support/build_once.h"

namespace mlxm::e2e {

inline const std::string& repos_root() {
  static std::string root;
  static std::once_flag once;
  std::call_once(once, [] {
    root = std::string(MLXM_BINARY_DIR) + "/test-models/pool-hub-repos";
    for (const char* name : {"tiny", "tiny2"}) {
      const std::string out = root + "/acme/" + name;
      const std::string err = test_support::build_dir_once(out, [](const std::string& staging) {
        return test_support::make_model_command(
            MLXM_BINARY_DIR,
            std::string("--shape tiny --quant q4 --seed 41 --tokenizer ") + MLXM_SOURCE_DIR +
                "/models/demo",
            staging);
      });
      if (!err.empty()) ADD_FAILURE() << err;
    }
  });
  return root;
}

class Hub {
 public:
  explicit Hub(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      std::vector<std::string> a = {"node", std::string(MLXM_SOURCE_DIR) + "/tests/pool/fake_hub.mjs", repos_root()};
      for (auto& x : args) a.push_back(x);
      std::vector<char*> argv;
      for (auto& x : a) argv.push_back(x.data());
      argv.push_back(nullptr);
      execvp("node", argv.data());
      _exit(127);
    }
    close(fds[1]);
    std::string line;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    close(fds[0]);
    if (line.rfind("PORT ", 0) == 0) port_ = std::atoi(line.c_str() + 5);
  }
  ~Hub() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return port_ > 0; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

inline std::string temp_home() {
  std::string t = (std::filesystem::temp_directory_path() / "mlxm-dl-XXXXXX").string();
  return mkdtemp(t.data());
}

}  // namespace mlxm::e2e
