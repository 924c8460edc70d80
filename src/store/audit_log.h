// The audit log table: one row per API request (see migrations.cpp for the schema). Queries
// filter by model, backend, status and time range, newest first, with pagination; stats
// aggregate over the same filters; retention deletes by age and by database size.
//
// Thread-safety: an AuditLog uses its Database from the calling thread; one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/database.h"

namespace mlxm::store {

inline constexpr size_t kMaxErrorMessageBytes = 1024;  // longer messages are truncated

struct AuditRow {
  int64_t id = 0;  // assigned on insert
  std::string request_id;
  int64_t ts_ms = 0;  // Unix ms when the request arrived
  std::string method;
  std::string endpoint;
  std::string model;
  std::string backend;
  std::string status;  // success | error | timeout | cancelled
  int http_status = 0;
  std::string finish_reason;
  bool stream = false;
  double duration_ms = 0;
  std::optional<double> queue_ms;
  std::optional<double> ttft_ms;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
  std::optional<double> tokens_per_second;
  std::optional<std::string> error_type;
  std::optional<std::string> error_message;
  std::string client_address;
  std::optional<std::string> api_key_id;
  std::optional<std::string> prompt_content;    // only with MLX_SERVER_AUDIT_CONTENT=true
  std::optional<std::string> response_content;

  bool operator==(const AuditRow&) const = default;
};

bool valid_audit_status(const std::string& s);

struct AuditFilter {
  std::optional<std::string> model;
  std::optional<std::string> backend;
  std::optional<std::string> status;
  std::optional<int64_t> since_ms;  // ts_ms >= since
  std::optional<int64_t> until_ms;  // ts_ms < until
  std::optional<int64_t> after_id;  // id > after_id (live tails, incremental export)
};

struct AuditPage {
  std::vector<AuditRow> rows;  // newest first
  int64_t total = 0;           // rows matching the filter
};

struct AuditStats {
  int64_t total = 0;
  std::vector<std::pair<std::string, int64_t>> by_status;  // sorted by status
  struct ModelStats {
    std::string model;
    std::string backend;
    int64_t requests = 0;
    int64_t errors = 0;  // status != success
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    double avg_duration_ms = 0;
    std::optional<double> avg_ttft_ms;
    std::optional<double> avg_tokens_per_second;
  };
  std::vector<ModelStats> by_model;  // most requests first
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::optional<double> avg_duration_ms;
  std::optional<double> avg_ttft_ms;
  std::optional<int64_t> first_ts_ms;
  std::optional<int64_t> last_ts_ms;
};

class AuditLog {
 public:
  explicit AuditLog(Database& db) : db_(db) {}

  // Inserts the rows in one transaction (all or nothing) and sets their ids.
  // Error messages are truncated to kMaxErrorMessageBytes (at a UTF-8 boundary).
  Status insert(std::vector<AuditRow>* rows);

  // Newest first (ts_ms, then id, descending). REQUIRES: 0 < limit, 0 <= offset.
  Result<AuditPage> query(const AuditFilter& filter, int64_t limit, int64_t offset);

  // Every matching row, newest first unless `oldest_first`, in pages of `page_size`; fn returns
  // false to stop. Each page is its own read, so rows inserted meanwhile may or may not appear.
  Status for_each(const AuditFilter& filter, bool oldest_first,
                  const std::function<bool(const AuditRow&)>& fn, int64_t page_size = 500);

  Result<AuditStats> stats(const AuditFilter& filter);

  // Deletes rows older than `cutoff_ms`; returns how many.
  Result<int64_t> delete_older_than(int64_t cutoff_ms);
  // Deletes the oldest rows until the database uses at most `max_bytes` (then vacuums the free
  // pages); returns how many rows went.
  Result<int64_t> enforce_max_bytes(int64_t max_bytes);

  Result<int64_t> count();

 private:
  Database& db_;
};

// Keeps the first `max_bytes` of `s`, cut at a UTF-8 character boundary.
std::string truncate_utf8(const std::string& s, size_t max_bytes);

}  // namespace mlxm::store
