#include "api/admin_logs/audit_service.h"

#include "core/env.h"
#include "core/log.h"

namespace mlxm::api {

Result<AuditServiceOptions> audit_service_options_from_env() {
  AuditServiceOptions o;
  MLXM_ASSIGN_OR_RETURN(o.capture_content, env_bool("MLX_SERVER_AUDIT_CONTENT", false));
  MLXM_ASSIGN_OR_RETURN(o.writer, store::audit_writer_options_from_env());
  return o;
}

store::AuditRow audit_row_from_record(const telemetry::RequestRecord& r, bool keep_content) {
  store::AuditRow row;
  row.request_id = r.request_id;
  row.ts_ms = r.t_start_unix_ms;
  row.method = r.method;
  row.endpoint = r.endpoint;
  row.model = r.model;
  row.backend = r.backend;
  row.status = telemetry::request_outcome_name(r.outcome);
  row.http_status = r.http_status;
  row.finish_reason = r.finish_reason;
  row.stream = r.stream;
  row.duration_ms = r.duration_ms;
  if (r.queue_ms >= 0) row.queue_ms = r.queue_ms;
  if (r.ttft_ms >= 0) row.ttft_ms = r.ttft_ms;
  row.prompt_tokens = r.prompt_tokens;
  row.completion_tokens = r.completion_tokens;
  row.cached_tokens = r.cached_prompt_tokens;
  if (r.completion_tokens > 0) row.tokens_per_second = r.tokens_per_second();
  if (!r.error_type.empty()) row.error_type = r.error_type;
  if (!r.error_message.empty()) {
    row.error_message = store::truncate_utf8(r.error_message, store::kMaxErrorMessageBytes);
  }
  row.client_address = r.client_address;
  if (!r.api_key_id.empty()) row.api_key_id = r.api_key_id;
  if (keep_content) {
    row.prompt_content = r.prompt_content;
    row.response_content = r.response_content;
  }
  return row;
}

AuditService::AuditService(AuditServiceOptions options, telemetry::ServingMetrics* metrics)
    : opt_(std::move(options)), metrics_(metrics) {}

Result<std::shared_ptr<AuditService>> AuditService::open(const std::filesystem::path& db_path,
                                                         AuditServiceOptions options,
                                                         telemetry::ServingMetrics* metrics) {
  MLXM_ASSIGN_OR_RETURN(std::unique_ptr<store::Database> wdb, store::Database::open(db_path));
  MLXM_ASSIGN_OR_RETURN(std::unique_ptr<store::Database> rdb, store::Database::open(db_path));
  std::shared_ptr<AuditService> s(new AuditService(std::move(options), metrics));
  s->feed_ = std::make_shared<AuditFeed>(s->opt_.feed);
  std::weak_ptr<AuditFeed> feed = s->feed_;
  s->writer_ = std::make_unique<store::AuditWriter>(
      std::move(wdb), s->opt_.writer, [feed](const std::vector<store::AuditRow>& rows) {
        if (auto f = feed.lock()) f->publish(rows);
      });
  s->reader_db_ = std::move(rdb);
  s->reader_ = std::make_unique<store::AuditLog>(*s->reader_db_);
  AuditService* raw = s.get();
  s->query_thread_ = std::thread([raw] { raw->run_queries(); });
  if (metrics) {
    store::AuditWriter* w = s->writer_.get();
    // The service outlives scrapes: it is shut down only after the server stopped.
    metrics->registry().add_collect_hook(
        [metrics, w] { metrics->set_audit_counts(w->n_written(), w->n_dropped()); });
  }
  MLXM_LOG_INFO("audit log: {} (content {})", db_path.string(),
                s->opt_.capture_content ? "recorded" : "not recorded");
  return s;
}

AuditService::~AuditService() { shutdown(); }

void AuditService::on_request_complete(telemetry::RequestRecord record) {
  if (metrics_) metrics_->record(record);
  writer_->enqueue(audit_row_from_record(record, opt_.capture_content));
}

bool AuditService::post_query(std::function<void(store::AuditLog&)> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void AuditService::with_reader(const std::function<void(store::AuditLog&)>& fn) {
  std::lock_guard lock(reader_mu_);
  if (reader_closed_) return;
  fn(*reader_);
}

void AuditService::run_queries() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) break;  // stopping and drained
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    try {
      std::lock_guard reader_lock(reader_mu_);
      task(*reader_);
    } catch (const std::exception& e) {
      MLXM_LOG_ERROR("audit query task threw: {}", e.what());
    }
    lock.lock();
  }
}

void AuditService::shutdown() {
  std::call_once(shutdown_once_, [this] {
    writer_->stop();  // flushes every queued row
    feed_->close();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (query_thread_.joinable()) query_thread_.join();
    {
      std::lock_guard lock(reader_mu_);
      reader_closed_ = true;
    }
    MLXM_LOG_INFO("audit log: flushed ({} rows written, {} dropped)", writer_->n_written(),
                  writer_->n_dropped());
  });
}

}  // namespace mlxm::api
