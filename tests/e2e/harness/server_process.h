// ServerProcess: runs the real `mlx-manager serve` (from MLXM_BINARY_DIR/bin) on a free
// loopback port for an e2e test, and always kills it in the destructor.
//
//   mlxm::e2e::ServerProcess server;                  // test routes on, port chosen by the OS
//   ASSERT_TRUE(server.ok()) << server.error();
//   auto r = server.get("/health");                   // fresh connection per call
//   EXPECT_EQ(r.status, 200);
//   auto conn = server.connect();                     // keep-alive / streaming
//   server.signal(SIGTERM); EXPECT_EQ(server.wait_exit(), 0);
//
// The port is race-free: the server binds port 0 and the harness reads the bound port from the
// "listening on" log line, then waits until /health answers. The child gets PR_SET_PDEATHSIG so
// it dies with the test binary even on a crash. Output goes to a temp file: log() on failure.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "e2e/harness/http_client.h"

namespace mlxm::e2e {

struct ServerOptions {
  std::map<std::string, std::string> env;  // added to (and overriding) the test's environment
  std::vector<std::string> args;           // extra `serve` flags
  int port = 0;                            // 0: the OS picks a free one
  bool test_routes = true;                 // MLX_MANAGER_TEST_ROUTES=1
  int startup_timeout_ms = 10000;
  bool wait_healthy = true;                // false: only start (e.g. expecting a config error)
};

class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options = {});
  ~ServerProcess();  // SIGKILL + reap when still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }  // includes the server's log
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // One request on a fresh connection.
  HttpResult request(const std::string& method, const std::string& target,
                     const std::string& body = "", const HeaderList& headers = {}) const;
  HttpResult get(const std::string& target, const HeaderList& headers = {}) const {
    return request("GET", target, "", headers);
  }
  HttpResult post(const std::string& target, const std::string& body,
                  const HeaderList& headers = {}) const {
    return request("POST", target, body, headers);
  }
  // A connection for keep-alive or streaming; nullptr when refused.
  std::unique_ptr<HttpConnection> connect() const;

  void signal(int signo) const;
  bool running();
  // The exit code (128 + signal when killed by one), or nullopt on timeout.
  std::optional<int> wait_exit(int timeout_ms = 10000);
  std::string log() const;

 private:
  void start(const ServerOptions& options);
  bool reap(bool block);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  uint16_t port_ = 0;
  std::string log_path_;
  std::string home_dir_;  // temporary MLX_MANAGER_HOME, removed with the server
  std::string error_;
};

// Polls `pred` every 10 ms until it is true or `timeout_ms` passed; returns the last value.
template <typename Pred>
bool eventually(Pred pred, int timeout_ms = 15000);

// The path of the binary under test.
std::string mlx_manager_binary();

}  // namespace mlxm::e2e

#include <chrono>
#include <thread>

template <typename Pred>
bool mlxm::e2e::eventually(Pred pred, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}
