#include "pool/pool_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <map>
#include <mutex>

#include "engine/loader/make_model.h"
#include "test_support/build_once.h"

namespace fs = std::filesystem;

namespace mlxm::pool::testing {

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "mlxm-pool-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  path_ = p != nullptr ? std::string(p) : std::string();
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

void make_tiny_model(const std::string& out, uint64_t seed) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const std::string cached = std::string(MLXM_BINARY_DIR) + "/test-models/pool-tiny-" + std::to_string(seed);
  const std::string err = test_support::build_dir_once(cached, [seed](const std::string& staging) {
    auto spec = engine::model_spec_for_shape("tiny");
    if (!spec.ok()) return spec.status().to_string();
    spec->bits = 4;
    spec->group_size = 32;
    Status st = engine::make_model(*spec, std::string(MLXM_SOURCE_DIR) + "/models/demo", staging, seed);
    return st.ok() ? std::string() : st.to_string();
  });
  ASSERT_TRUE(err.empty()) << err;
  fs::create_directories(out);
  fs::copy(cached, out, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

std::string add_to_hf_cache(const std::string& hf_cache, const std::string& repo, uint64_t seed) {
  const std::string tmp = hf_cache + "/.staging-" + std::to_string(seed);
  make_tiny_model(tmp, seed);
  const size_t slash = repo.find('/');
  const fs::path repo_dir = fs::path(hf_cache) / ("models--" + repo.substr(0, slash) + "--" + repo.substr(slash + 1));
  const std::string commit = "0123456789abcdef0123456789abcdef0123" + std::to_string(1000 + seed % 9000);
  fs::create_directories(repo_dir / "refs");
  fs::create_directories(repo_dir / "blobs");
  fs::create_directories(repo_dir / "snapshots" / commit);
  std::ofstream(repo_dir / "refs" / "main") << commit;
  int i = 0;
  for (const auto& f : fs::directory_iterator(tmp)) {
    const std::string blob = "blob" + std::to_string(seed) + "x" + std::to_string(i++);
    fs::rename(f.path(), repo_dir / "blobs" / blob);
    fs::create_symlink(fs::path("../../blobs") / blob, repo_dir / "snapshots" / commit / f.path().filename());
  }
  fs::remove_all(tmp);
  return commit;
}

FakeHub::FakeHub(const std::string& root, const std::vector<std::string>& args) {
  static int n = 0;
  stats_path_ = root + "/../hub-stats-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".json";
  int fds[2];
  if (pipe(fds) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    std::vector<std::string> argv_s = {"node", std::string(MLXM_SOURCE_DIR) + "/tests/pool/fake_hub.mjs",
                                       root, "--stats=" + stats_path_};
    for (const auto& a : args) argv_s.push_back(a);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
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

FakeHub::~FakeHub() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  fs::remove(stats_path_, ec);
}

std::string FakeHub::stats_json() const {
  std::ifstream in(stats_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str().empty() ? "{}" : ss.str();
}

}  // namespace mlxm::pool::testing
