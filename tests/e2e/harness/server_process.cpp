#include "e2e/harness/server_process.h"

#include <filesystem>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace mlxm::e2e {

std::string mlx_manager_binary() { return std::string(MLXM_BINARY_DIR) + "/bin/mlx-manager"; }

ServerProcess::ServerProcess(ServerOptions options) { start(options); }

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    reap(/*block=*/true);
  }
  if (!log_path_.empty()) ::unlink(log_path_.c_str());
  if (!home_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(home_dir_, ec);
  }
}

void ServerProcess::start(const ServerOptions& options) {
  char path[] = "/tmp/mlxm_e2e_server_XXXXXX";
  int log_fd = ::mkstemp(path);
  if (log_fd < 0) {
    error_ = "mkstemp failed";
    return;
  }
  log_path_ = path;
  std::vector<std::string> argv_s = {mlx_manager_binary(), "serve", "--host", "127.0.0.1",
                                     "--port", std::to_string(options.port)};
  argv_s.insert(argv_s.end(), options.args.begin(), options.args.end());
  std::map<std::string, std::string> env = options.env;
  if (options.test_routes) env.emplace("MLX_MANAGER_TEST_ROUTES", "1");
  env.emplace("MLX_MANAGER_LOG_LEVEL", "info");
  // Each server gets its own home (database, keys) unless the test chose one: tests running in
  // parallel never share a database, and nothing is written to the user's ~/.mlx-manager.
  if (!env.count("MLX_MANAGER_HOME")) {
    char home[] = "/tmp/mlxm_e2e_home_XXXXXX";
    if (::mkdtemp(home) != nullptr) {
      home_dir_ = home;
      env["MLX_MANAGER_HOME"] = home_dir_;
    }
  }

  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    error_ = std::string("fork failed: ") + std::strerror(errno);
    return;
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(127);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::close(log_fd);
    // Start from a clean server configuration: only what the test sets.
    for (const char* v : {"MLX_SERVER_HOST", "MLX_SERVER_PORT", "MLX_SERVER_CORS_ORIGINS",
                          "MLX_SERVER_DRAIN_TIMEOUT_SECONDS", "MLX_MANAGER_TEST_ROUTES"}) {
      ::unsetenv(v);
    }
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "exec %s failed: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  ::close(log_fd);

  // Wait for the bound port in the log, then for /health.
  static const std::regex kListening(R"(listening on http://127\.0\.0\.1:(\d+))");
  bool found = eventually(
      [&] {
        std::smatch m;
        std::string text = log();
        if (std::regex_search(text, m, kListening)) {
          port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
          return true;
        }
        return !running();
      },
      options.startup_timeout_ms);
  if (port_ == 0) {
    error_ = std::string(found ? "server exited before listening" : "server did not start") +
             "; log:\n" + log();
    return;
  }
  if (!options.wait_healthy) return;
  bool healthy = eventually([&] { return get("/health").status == 200 || !running(); },
                            options.startup_timeout_ms);
  if (!healthy || !running()) error_ = "server not healthy; log:\n" + log();
}

bool ServerProcess::reap(bool block) {
  if (pid_ <= 0 || exit_code_) return true;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  if (r != pid_) return false;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

bool ServerProcess::running() { return pid_ > 0 && !reap(false); }

std::optional<int> ServerProcess::wait_exit(int timeout_ms) {
  eventually([&] { return !running(); }, timeout_ms);
  return exit_code_;
}

void ServerProcess::signal(int signo) const {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, signo);
}

std::string ServerProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<HttpConnection> ServerProcess::connect() const {
  return HttpConnection::connect(port_);
}

HttpResult ServerProcess::request(const std::string& method, const std::string& target,
                                  const std::string& body, const HeaderList& headers) const {
  auto conn = connect();
  if (!conn) {
    HttpResult r;
    r.error = "connect failed: " + HttpConnection::last_connect_error();
    return r;
  }
  return conn->request(method, target, body, headers);
}

}  // namespace mlxm::e2e
