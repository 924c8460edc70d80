// The audit log's writer thread: request threads enqueue() rows (never blocking, never touching
// SQLite); the thread writes them in batches, one transaction each, on its own connection, and
// enforces retention periodically. The queue is bounded: when it is full (a slow or full disk)
// new rows are dropped and counted, so serving never waits for the database. A failed batch is
// dropped and counted too (logged, rate-limited).
//
// Thread-safety: every method is thread-safe. on_written runs on the writer thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/status.h"
#include "store/audit_log.h"
#include "store/database.h"

namespace mlxm::store {

struct AuditWriterOptions {
  size_t max_queue = 10000;  // rows waiting; more are dropped
  size_t max_batch = 256;    // rows per transaction
  std::chrono::milliseconds flush_interval{100};  // max wait to gather a batch
  int64_t retention_days = 30;                    // 0 keeps rows forever
  int64_t max_bytes = 1024LL * 1024 * 1024;       // database size cap; 0 = none
  std::chrono::milliseconds retention_interval{std::chrono::minutes(10)};
};

// Reads MLX_SERVER_AUDIT_RETENTION_DAYS (30), MLX_SERVER_AUDIT_MAX_MB (1024),
// MLX_SERVER_AUDIT_RETENTION_INTERVAL_SECONDS (600), MLX_SERVER_AUDIT_QUEUE_SIZE (10000).
Result<AuditWriterOptions> audit_writer_options_from_env();

class AuditWriter {
 public:
  // Called after each committed batch with the rows (ids set). Must not block for long.
  using OnWritten = std::function<void(const std::vector<AuditRow>&)>;

  // Starts the thread; `db` is used only by it from now on.
  AuditWriter(std::unique_ptr<Database> db, AuditWriterOptions options, OnWritten on_written = {});
  ~AuditWriter();  // stop()
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // Queues a row; false (and counted as dropped) when the queue is full or the writer stopped.
  bool enqueue(AuditRow row);
  // Blocks until every row enqueued before the call is written (or dropped on error).
  void flush();
  // Writes what is queued, then ends the thread. Idempotent.
  void stop();
  // Runs retention now (on the writer thread) and waits for it.
  void run_retention_now();
  // Changes retention live (0 = keep forever / no size cap); used from the next retention run.
  void set_retention(int64_t retention_days, int64_t max_bytes);
  int64_t retention_days() const { return retention_days_.load(); }
  int64_t max_bytes() const { return max_bytes_.load(); }

  uint64_t n_written() const { return n_written_.load(); }
  uint64_t n_dropped() const { return n_dropped_.load(); }
  uint64_t n_retention_deleted() const { return n_retention_deleted_.load(); }

 private:
  void run();
  void retention();

  std::unique_ptr<Database> db_;
  AuditLog log_;
  AuditWriterOptions opt_;
  OnWritten on_written_;

  std::mutex mu_;
  std::condition_variable cv_;       // wakes the writer
  std::condition_variable done_cv_;  // wakes flush() callers
  std::deque<AuditRow> queue_;
  uint64_t n_enqueued_ = 0;   // rows accepted, ever
  uint64_t n_processed_ = 0;  // rows written or dropped after acceptance
  bool stopping_ = false;
  bool exited_ = false;  // the thread has left its loop
  int n_flush_waiters_ = 0;
  std::mutex stop_mu_;  // serializes stop()
  bool retention_requested_ = false;
  uint64_t n_retention_runs_ = 0;
  std::atomic<int64_t> retention_days_{0};  // live copies of opt_.retention_days / max_bytes
  std::atomic<int64_t> max_bytes_{0};
  std::atomic<uint64_t> n_written_{0};
  std::atomic<uint64_t> n_dropped_{0};
  std::atomic<uint64_t> n_retention_deleted_{0};
  std::thread thread_;
};

}  // namespace mlxm::store
