// Helpers for the pool unit tests: temp dirs, tiny random-weight models (demo tokenizer, so they
// load fast), and a fake Hugging Face cache layout.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>
#include <sys/types.h>

namespace mlxm::pool::testing {

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& sub) const { return path_ + "/" + sub; }

 private:
  std::string path_;
};

// A tiny q4 Llama at `out` (made once per process per seed into a shared cache dir, then copied).
void make_tiny_model(const std::string& out, uint64_t seed);

// Puts a copy of a tiny model into `hf_cache` as repo `org/name` with refs/main -> commit and
// snapshots/<commit>/<file> symlinks into blobs/<sha>. Returns the commit hash.
std::string add_to_hf_cache(const std::string& hf_cache, const std::string& repo, uint64_t seed);

// tests/pool/fake_hub.mjs on a free port, serving repos from `root`/<org>/<name>/ (killed by the
// destructor). `args`: the script's knobs, e.g. {"--drop-after=1000"}.
class FakeHub {
 public:
  FakeHub(const std::string& root, const std::vector<std::string>& args = {});
  ~FakeHub();
  bool ok() const { return port_ > 0; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Counters the hub wrote after its last request ({} when none yet).
  std::string stats_json() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string stats_path_;
};

// Polls `pred` every 20 ms for up to `timeout_ms`.
template <typename Pred>
bool eventually_true(Pred pred, int timeout_ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace mlxm::pool::testing
