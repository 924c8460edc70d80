#include "store/audit_log.h"

#include <algorithm>

#include "store/detail/connection.h"

namespace mlxm::store {
namespace {

constexpr const char* kColumns =
    "id, request_id, ts_ms, method, endpoint, model, backend, status, http_status, "
    "finish_reason, stream, duration_ms, queue_ms, ttft_ms, prompt_tokens, completion_tokens, "
    "cached_tokens, tokens_per_second, error_type, error_message, client_address, api_key_id, "
    "prompt_content, response_content";

template <class T>
void bind_opt(SQLite::Statement& s, int i, const std::optional<T>& v) {
  if (v) {
    s.bind(i, *v);
  } else {
    s.bind(i);  // NULL
  }
}

std::optional<double> opt_double(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getDouble();
}

std::optional<std::string> opt_text(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}

AuditRow read_row(SQLite::Statement& q) {
  AuditRow r;
  r.id = q.getColumn(0).getInt64();
  r.request_id = q.getColumn(1).getString();
  r.ts_ms = q.getColumn(2).getInt64();
  r.method = q.getColumn(3).getString();
  r.endpoint = q.getColumn(4).getString();
  r.model = q.getColumn(5).getString();
  r.backend = q.getColumn(6).getString();
  r.status = q.getColumn(7).getString();
  r.http_status = q.getColumn(8).getInt();
  r.finish_reason = q.getColumn(9).getString();
  r.stream = q.getColumn(10).getInt() != 0;
  r.duration_ms = q.getColumn(11).getDouble();
  r.queue_ms = opt_double(q.getColumn(12));
  r.ttft_ms = opt_double(q.getColumn(13));
  r.prompt_tokens = q.getColumn(14).getInt64();
  r.completion_tokens = q.getColumn(15).getInt64();
  r.cached_tokens = q.getColumn(16).getInt64();
  r.tokens_per_second = opt_double(q.getColumn(17));
  r.error_type = opt_text(q.getColumn(18));
  r.error_message = opt_text(q.getColumn(19));
  r.client_address = q.getColumn(20).getString();
  r.api_key_id = opt_text(q.getColumn(21));
  r.prompt_content = opt_text(q.getColumn(22));
  r.response_content = opt_text(q.getColumn(23));
  return r;
}

// WHERE clause for a filter; binds follow in the same order (bind_filter).
std::string where_clause(const AuditFilter& f) {
  std::vector<std::string> parts;
  if (f.model) parts.push_back("model = ?");
  if (f.backend) parts.push_back("backend = ?");
  if (f.status) parts.push_back("status = ?");
  if (f.since_ms) parts.push_back("ts_ms >= ?");
  if (f.until_ms) parts.push_back("ts_ms < ?");
  if (f.after_id) parts.push_back("id > ?");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? " AND " : " WHERE ") + parts[i];
  return out;
}

int bind_filter(SQLite::Statement& s, const AuditFilter& f) {
  int i = 1;
  if (f.model) s.bind(i++, *f.model);
  if (f.backend) s.bind(i++, *f.backend);
  if (f.status) s.bind(i++, *f.status);
  if (f.since_ms) s.bind(i++, static_cast<int64_t>(*f.since_ms));
  if (f.until_ms) s.bind(i++, static_cast<int64_t>(*f.until_ms));
  if (f.after_id) s.bind(i++, static_cast<int64_t>(*f.after_id));
  return i;
}

}  // namespace

bool valid_audit_status(const std::string& s) {
  return s == "success" || s == "error" || s == "timeout" || s == "cancelled";
}

std::string truncate_utf8(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t n = max_bytes;
  // Step back over continuation bytes so a multi-byte character is never cut.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

Status AuditLog::insert(std::vector<AuditRow>* rows) {
  if (rows->empty()) return ok_status();
  SQLite::Database& db = db_.connection().db;
  return detail::guarded("writing audit rows", [&] {
    SQLite::Transaction tx(db);
    SQLite::Statement ins(
        db,
        "INSERT INTO audit_log (request_id, ts_ms, method, endpoint, model, backend, status, "
        "http_status, finish_reason, stream, duration_ms, queue_ms, ttft_ms, prompt_tokens, "
        "completion_tokens, cached_tokens, tokens_per_second, error_type, error_message, "
        "client_address, api_key_id, prompt_content, response_content) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (AuditRow& r : *rows) {
      if (r.error_message) r.error_message = truncate_utf8(*r.error_message, kMaxErrorMessageBytes);
      ins.bind(1, r.request_id);
      ins.bind(2, static_cast<int64_t>(r.ts_ms));
      ins.bind(3, r.method);
      ins.bind(4, r.endpoint);
      ins.bind(5, r.model);
      ins.bind(6, r.backend);
      ins.bind(7, r.status);
      ins.bind(8, r.http_status);
      ins.bind(9, r.finish_reason);
      ins.bind(10, r.stream ? 1 : 0);
      ins.bind(11, r.duration_ms);
      bind_opt(ins, 12, r.queue_ms);
      bind_opt(ins, 13, r.ttft_ms);
      ins.bind(14, static_cast<int64_t>(r.prompt_tokens));
      ins.bind(15, static_cast<int64_t>(r.completion_tokens));
      ins.bind(16, static_cast<int64_t>(r.cached_tokens));
      bind_opt(ins, 17, r.tokens_per_second);
      bind_opt(ins, 18, r.error_type);
      bind_opt(ins, 19, r.error_message);
      ins.bind(20, r.client_address);
      bind_opt(ins, 21, r.api_key_id);
      bind_opt(ins, 22, r.prompt_content);
      bind_opt(ins, 23, r.response_content);
      ins.exec();
      r.id = db.getLastInsertRowid();
      ins.reset();
      ins.clearBindings();
    }
    tx.commit();
  });
}

Result<AuditPage> AuditLog::query(const AuditFilter& filter, int64_t limit, int64_t offset) {
  if (limit <= 0 || offset < 0) return invalid_argument("limit must be > 0 and offset >= 0");
  AuditPage page;
  SQLite::Database& db = db_.connection().db;
  MLXM_RETURN_IF_ERROR(detail::guarded("querying the audit log", [&] {
    const std::string where = where_clause(filter);
    SQLite::Statement c(db, "SELECT COUNT(*) FROM audit_log" + where);
    bind_filter(c, filter);
    c.executeStep();
    page.total = c.getColumn(0).getInt64();
    SQLite::Statement q(db, std::string("SELECT ") + kColumns + " FROM audit_log" + where +
                                " ORDER BY ts_ms DESC, id DESC LIMIT ? OFFSET ?");
    int i = bind_filter(q, filter);
    q.bind(i++, static_cast<int64_t>(limit));
    q.bind(i++, static_cast<int64_t>(offset));
    while (q.executeStep()) page.rows.push_back(read_row(q));
  }));
  return page;
}

Status AuditLog::for_each(const AuditFilter& filter, bool oldest_first,
                          const std::function<bool(const AuditRow&)>& fn, int64_t page_size) {
  SQLite::Database& db = db_.connection().db;
  std::optional<std::pair<int64_t, int64_t>> last;  // (ts_ms, id) of the previous row
  while (true) {
    std::vector<AuditRow> rows;
    MLXM_RETURN_IF_ERROR(detail::guarded("exporting the audit log", [&] {
      std::string where = where_clause(filter);
      if (last) {
        where += (where.empty() ? " WHERE " : " AND ");
        where += oldest_first ? "(ts_ms, id) > (?, ?)" : "(ts_ms, id) < (?, ?)";
      }
      const char* dir = oldest_first ? "ASC" : "DESC";
      SQLite::Statement q(db, std::string("SELECT ") + kColumns + " FROM audit_log" + where +
                                  " ORDER BY ts_ms " + dir + ", id " + dir + " LIMIT ?");
      int i = bind_filter(q, filter);
      if (last) {
        q.bind(i++, static_cast<int64_t>(last->first));
        q.bind(i++, static_cast<int64_t>(last->second));
      }
      q.bind(i, static_cast<int64_t>(page_size));
      while (q.executeStep()) rows.push_back(read_row(q));
    }));
    for (const AuditRow& r : rows) {
      if (!fn(r)) return ok_status();
    }
    if (static_cast<int64_t>(rows.size()) < page_size) return ok_status();
    last = std::make_pair(rows.back().ts_ms, rows.back().id);
  }
}

Result<AuditStats> AuditLog::stats(const AuditFilter& filter) {
  AuditStats s;
  SQLite::Database& db = db_.connection().db;
  MLXM_RETURN_IF_ERROR(detail::guarded("audit log stats", [&] {
    const std::string where = where_clause(filter);
    SQLite::Statement t(db,
                        "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), "
                        "COALESCE(SUM(completion_tokens), 0), AVG(duration_ms), AVG(ttft_ms), "
                        "MIN(ts_ms), MAX(ts_ms) FROM audit_log" + where);
    bind_filter(t, filter);
    t.executeStep();
    s.total = t.getColumn(0).getInt64();
    s.prompt_tokens = t.getColumn(1).getInt64();
    s.completion_tokens = t.getColumn(2).getInt64();
    s.avg_duration_ms = opt_double(t.getColumn(3));
    s.avg_ttft_ms = opt_double(t.getColumn(4));
    if (!t.getColumn(5).isNull()) s.first_ts_ms = t.getColumn(5).getInt64();
    if (!t.getColumn(6).isNull()) s.last_ts_ms = t.getColumn(6).getInt64();

    SQLite::Statement b(db, "SELECT status, COUNT(*) FROM audit_log" + where +
                                " GROUP BY status ORDER BY status");
    bind_filter(b, filter);
    while (b.executeStep()) s.by_status.emplace_back(b.getColumn(0).getString(), b.getColumn(1).getInt64());

    SQLite::Statement m(
        db,
        "SELECT model, backend, COUNT(*), SUM(status != 'success'), SUM(prompt_tokens), "
        "SUM(completion_tokens), AVG(duration_ms), AVG(ttft_ms), AVG(tokens_per_second) "
        "FROM audit_log" + where + " GROUP BY model, backend ORDER BY COUNT(*) DESC, model, backend");
    bind_filter(m, filter);
    while (m.executeStep()) {
      AuditStats::ModelStats ms;
      ms.model = m.getColumn(0).getString();
      ms.backend = m.getColumn(1).getString();
      ms.requests = m.getColumn(2).getInt64();
      ms.errors = m.getColumn(3).getInt64();
      ms.prompt_tokens = m.getColumn(4).getInt64();
      ms.completion_tokens = m.getColumn(5).getInt64();
      ms.avg_duration_ms = m.getColumn(6).getDouble();
      ms.avg_ttft_ms = opt_double(m.getColumn(7));
      ms.avg_tokens_per_second = opt_double(m.getColumn(8));
      s.by_model.push_back(std::move(ms));
    }
  }));
  return s;
}

Result<int64_t> AuditLog::delete_older_than(int64_t cutoff_ms) {
  int64_t n = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("audit retention", [&] {
    SQLite::Statement d(db_.connection().db, "DELETE FROM audit_log WHERE ts_ms < ?");
    d.bind(1, static_cast<int64_t>(cutoff_ms));
    n = d.exec();
  }));
  return n;
}

Result<int64_t> AuditLog::enforce_max_bytes(int64_t max_bytes) {
  int64_t deleted = 0;
  for (int round = 0; round < 64; ++round) {
    MLXM_ASSIGN_OR_RETURN(int64_t used, db_.used_bytes());
    if (used <= max_bytes) break;
    MLXM_ASSIGN_OR_RETURN(int64_t rows, count());
    if (rows == 0) break;
    // Delete the share of rows that should free the excess, at least 1, plus a 10% margin.
    const double excess = static_cast<double>(used - max_bytes) / static_cast<double>(used);
    const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(excess * 1.1 * rows) + 1);
    int64_t changed = 0;
    MLXM_RETURN_IF_ERROR(detail::guarded("audit size retention", [&] {
      SQLite::Statement d(db_.connection().db,
                          "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log "
                          "ORDER BY ts_ms ASC, id ASC LIMIT ?)");
      d.bind(1, static_cast<int64_t>(n));
      changed = d.exec();
    }));
    deleted += changed;
    MLXM_RETURN_IF_ERROR(db_.incremental_vacuum());
    if (changed == 0) break;
  }
  return deleted;
}

Result<int64_t> AuditLog::count() {
  int64_t n = 0;
  MLXM_RETURN_IF_ERROR(detail::guarded("counting audit rows", [&] {
    n = db_.connection().db.execAndGet("SELECT COUNT(*) FROM audit_log").getInt64();
  }));
  return n;
}

}  // namespace mlxm::store
