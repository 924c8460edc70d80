// Test helpers for the store: a temporary directory and row factories.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "store/audit_log.h"

namespace mlxm::store::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("mlxm-store-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path db() const { return path_ / "mlx-manager.db"; }

 private:
  std::filesystem::path path_;
};

inline AuditRow make_row(int i, int64_t ts_ms, const std::string& model = "tiny",
                         const std::string& status = "success") {
  AuditRow r;
  r.request_id = "req_" + std::to_string(i);
  r.ts_ms = ts_ms;
  r.method = "POST";
  r.endpoint = "/v1/chat/completions";
  r.model = model;
  r.backend = "local";
  r.status = status;
  r.http_status = status == "success" ? 200 : 400;
  r.finish_reason = status == "success" ? "stop" : "";
  r.stream = i % 2 == 0;
  r.duration_ms = 10.5 + i;
  if (status == "success") {
    r.queue_ms = 0.25;
    r.ttft_ms = 3.5;
    r.tokens_per_second = 123.25;
  } else {
    r.error_type = "invalid_request_error";
    r.error_message = "bad \"thing\", line1\nline2";
  }
  r.prompt_tokens = 7 + i;
  r.completion_tokens = 3;
  r.client_address = "127.0.0.1:5000" + std::to_string(i % 10);
  return r;
}

}  // namespace mlxm::store::testing
