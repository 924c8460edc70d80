// The audit log service: the RequestObserver the API handlers report to. Each finished request
// updates the metrics (ServingMetrics) at once and becomes an audit row queued for the store's
// writer thread (never written on an io or engine thread). Prompt and response text are kept
// only with MLX_SERVER_AUDIT_CONTENT=true. Rows the writer committed are pushed to WebSocket
// subscribers (AuditFeed). Reads (list, stats, export, the feed's backlog) run on one query
// thread with its own read connection, so io threads never wait on SQLite.
//
// Thread-safety: every public method is thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "api/admin_logs/audit_feed.h"
#include "core/status.h"
#include "store/audit_log.h"
#include "store/audit_writer.h"
#include "telemetry/request_record.h"
#include "telemetry/serving_metrics.h"

namespace mlxm::api {

struct AuditServiceOptions {
  bool capture_content = false;  // MLX_SERVER_AUDIT_CONTENT
  store::AuditWriterOptions writer;
  AuditFeedOptions feed;
};

// MLX_SERVER_AUDIT_CONTENT (false) plus the writer's variables (audit_writer_options_from_env).
Result<AuditServiceOptions> audit_service_options_from_env();

store::AuditRow audit_row_from_record(const telemetry::RequestRecord& r, bool keep_content);

class AuditService : public telemetry::RequestObserver {
 public:
  // Opens the database at `db_path` (a writer and a reader connection). `metrics` may be null
  // and must outlive the service.
  static Result<std::shared_ptr<AuditService>> open(const std::filesystem::path& db_path,
                                                    AuditServiceOptions options,
                                                    telemetry::ServingMetrics* metrics);
  ~AuditService() override;

  void on_request_complete(telemetry::RequestRecord record) override;
  bool wants_content() const override { return opt_.capture_content; }

  // Runs `task` on the query thread with the read connection. False after shutdown().
  bool post_query(std::function<void(store::AuditLog&)> task);
  // Runs `fn` with the read connection on the calling thread (short reads only). Not run after
  // shutdown().
  void with_reader(const std::function<void(store::AuditLog&)>& fn);

  AuditFeed& feed() { return *feed_; }
  store::AuditWriter& writer() { return *writer_; }

  // Drain: writes every queued row, closes the feed and stops the threads. Idempotent.
  void shutdown();

 private:
  AuditService(AuditServiceOptions options, telemetry::ServingMetrics* metrics);
  void run_queries();

  AuditServiceOptions opt_;
  telemetry::ServingMetrics* metrics_;
  std::shared_ptr<AuditFeed> feed_;
  std::unique_ptr<store::AuditWriter> writer_;
  std::unique_ptr<store::Database> reader_db_;
  std::unique_ptr<store::AuditLog> reader_;
  std::mutex reader_mu_;  // one user of the read connection at a time
  bool reader_closed_ = false;  // guarded by reader_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(store::AuditLog&)>> tasks_;
  bool stopping_ = false;
  std::thread query_thread_;
  std::once_flag shutdown_once_;
};

}  // namespace mlxm::api
