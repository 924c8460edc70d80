#include "store/audit_writer.h"

#include <algorithm>

#include "core/clock.h"
#include "core/env.h"
#include "core/log.h"

namespace mlxm::store {

Result<AuditWriterOptions> audit_writer_options_from_env() {
  AuditWriterOptions o;
  MLXM_ASSIGN_OR_RETURN(o.retention_days, env_int("MLX_SERVER_AUDIT_RETENTION_DAYS", 30, 0, 36500));
  MLXM_ASSIGN_OR_RETURN(int64_t mb, env_int("MLX_SERVER_AUDIT_MAX_MB", 1024, 0, 1 << 24));
  o.max_bytes = mb * 1024 * 1024;
  MLXM_ASSIGN_OR_RETURN(int64_t every,
                        env_int("MLX_SERVER_AUDIT_RETENTION_INTERVAL_SECONDS", 600, 1, 86400 * 7));
  o.retention_interval = std::chrono::seconds(every);
  MLXM_ASSIGN_OR_RETURN(int64_t q, env_int("MLX_SERVER_AUDIT_QUEUE_SIZE", 10000, 1, 10'000'000));
  o.max_queue = static_cast<size_t>(q);
  return o;
}

AuditWriter::AuditWriter(std::unique_ptr<Database> db, AuditWriterOptions options,
                         OnWritten on_written)
    : db_(std::move(db)), log_(*db_), opt_(options), on_written_(std::move(on_written)) {
  retention_days_ = opt_.retention_days;
  max_bytes_ = opt_.max_bytes;
  thread_ = std::thread([this] { run(); });
}

AuditWriter::~AuditWriter() { stop(); }

bool AuditWriter::enqueue(AuditRow row) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= opt_.max_queue) {
      n_dropped_.fetch_add(1);
      return false;
    }
    queue_.push_back(std::move(row));
    ++n_enqueued_;
  }
  cv_.notify_one();
  return true;
}

void AuditWriter::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = n_enqueued_;
  ++n_flush_waiters_;
  cv_.notify_one();
  done_cv_.wait(lock, [&] { return n_processed_ >= target || exited_; });
  --n_flush_waiters_;
}

void AuditWriter::stop() {
  std::lock_guard stop_lock(stop_mu_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AuditWriter::run_retention_now() {
  std::unique_lock lock(mu_);
  if (stopping_) return;
  const uint64_t target = n_retention_runs_ + 1;
  retention_requested_ = true;
  cv_.notify_one();
  done_cv_.wait(lock, [&] { return n_retention_runs_ >= target || exited_; });
}

void AuditWriter::set_retention(int64_t retention_days, int64_t max_bytes) {
  retention_days_ = std::max<int64_t>(retention_days, 0);
  max_bytes_ = std::max<int64_t>(max_bytes, 0);
}

void AuditWriter::retention() {
  const int64_t retention_days = retention_days_.load();
  const int64_t max_bytes = max_bytes_.load();
  if (retention_days > 0) {
    const int64_t cutoff = unix_ms() - retention_days * 86400LL * 1000;
    auto n = log_.delete_older_than(cutoff);
    if (!n.ok()) {
      MLXM_LOG_WARN("audit retention (age) failed: {}", n.status().message());
    } else if (*n > 0) {
      n_retention_deleted_.fetch_add(static_cast<uint64_t>(*n));
      MLXM_LOG_INFO("audit retention: deleted {} rows older than {} days", *n, retention_days);
    }
  }
  if (max_bytes > 0) {
    auto n = log_.enforce_max_bytes(max_bytes);
    if (!n.ok()) {
      MLXM_LOG_WARN("audit retention (size) failed: {}", n.status().message());
    } else if (*n > 0) {
      n_retention_deleted_.fetch_add(static_cast<uint64_t>(*n));
      MLXM_LOG_INFO("audit retention: deleted {} oldest rows to stay under {} bytes", *n,
                    max_bytes);
    }
  }
}

void AuditWriter::run() {
  TimePoint next_retention = now();  // once at startup
  TimePoint last_error_log{};
  std::unique_lock lock(mu_);
  while (true) {
    const TimePoint wake = next_retention;
    if (queue_.empty() && !stopping_ && !retention_requested_) {
      cv_.wait_until(lock, wake, [&] { return !queue_.empty() || stopping_ || retention_requested_; });
    }
    // Gather a batch: wait up to flush_interval for it to fill, unless flushing or stopping.
    if (!queue_.empty() && queue_.size() < opt_.max_batch && !stopping_ && n_flush_waiters_ == 0) {
      cv_.wait_for(lock, opt_.flush_interval, [&] {
        return queue_.size() >= opt_.max_batch || stopping_ || n_flush_waiters_ > 0;
      });
    }
    std::vector<AuditRow> batch;
    while (!queue_.empty() && batch.size() < opt_.max_batch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    const bool do_retention = retention_requested_ || now() >= next_retention;
    if (batch.empty() && !do_retention && stopping_) {
      exited_ = true;
      done_cv_.notify_all();
      break;
    }
    lock.unlock();

    if (!batch.empty()) {
      Status st = log_.insert(&batch);
      if (st.ok()) {
        n_written_.fetch_add(batch.size());
        if (on_written_) on_written_(batch);
      } else {
        n_dropped_.fetch_add(batch.size());
        if (ms_since(last_error_log) > 10'000) {
          MLXM_LOG_ERROR("audit log: dropped {} rows: {}", batch.size(), st.message());
          last_error_log = now();
        }
      }
    }
    if (do_retention) {
      retention();
      next_retention = now() + opt_.retention_interval;
    }

    lock.lock();
    n_processed_ += batch.size();
    if (do_retention) {
      retention_requested_ = false;
      ++n_retention_runs_;
    }
    done_cv_.notify_all();
  }
}

}  // namespace mlxm::store
