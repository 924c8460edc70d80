#include "api/admin_logs/audit_format.h"

#include <charconv>

namespace mlxm::api {
namespace {

using nlohmann::json;

template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

std::string num(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string opt_num(const std::optional<double>& v) { return v ? num(*v) : ""; }

}  // namespace

json audit_row_json(const store::AuditRow& r) {
  return json{{"id", r.id},
              {"request_id", r.request_id},
              {"timestamp_ms", r.ts_ms},
              {"method", r.method},
              {"endpoint", r.endpoint},
              {"model", r.model},
              {"backend", r.backend},
              {"status", r.status},
              {"http_status", r.http_status},
              {"finish_reason", r.finish_reason},
              {"stream", r.stream},
              {"duration_ms", r.duration_ms},
              {"queue_ms", opt(r.queue_ms)},
              {"ttft_ms", opt(r.ttft_ms)},
              {"prompt_tokens", r.prompt_tokens},
              {"completion_tokens", r.completion_tokens},
              {"cached_tokens", r.cached_tokens},
              {"tokens_per_second", opt(r.tokens_per_second)},
              {"error_type", opt(r.error_type)},
              {"error_message", opt(r.error_message)},
              {"client_address", r.client_address},
              {"api_key_id", opt(r.api_key_id)},
              {"prompt_content", opt(r.prompt_content)},
              {"response_content", opt(r.response_content)}};
}

const std::vector<std::string>& audit_csv_columns() {
  static const std::vector<std::string> kCols = {
      "id", "request_id", "timestamp_ms", "method", "endpoint", "model", "backend", "status",
      "http_status", "finish_reason", "stream", "duration_ms", "queue_ms", "ttft_ms",
      "prompt_tokens", "completion_tokens", "cached_tokens", "tokens_per_second", "error_type",
      "error_message", "client_address", "api_key_id", "prompt_content", "response_content"};
  return kCols;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string audit_csv_header() {
  std::string out;
  for (const auto& c : audit_csv_columns()) out += (out.empty() ? "" : ",") + c;
  return out + "\r\n";
}

std::string audit_csv_line(const store::AuditRow& r) {
  const std::vector<std::string> f = {
      std::to_string(r.id), csv_field(r.request_id), std::to_string(r.ts_ms), csv_field(r.method),
      csv_field(r.endpoint), csv_field(r.model), csv_field(r.backend), csv_field(r.status),
      std::to_string(r.http_status), csv_field(r.finish_reason), r.stream ? "true" : "false",
      num(r.duration_ms), opt_num(r.queue_ms), opt_num(r.ttft_ms), std::to_string(r.prompt_tokens),
      std::to_string(r.completion_tokens), std::to_string(r.cached_tokens),
      opt_num(r.tokens_per_second), csv_field(r.error_type.value_or("")),
      csv_field(r.error_message.value_or("")), csv_field(r.client_address),
      csv_field(r.api_key_id.value_or("")), csv_field(r.prompt_content.value_or("")),
      csv_field(r.response_content.value_or(""))};
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (i) out += ',';
    out += f[i];
  }
  return out + "\r\n";
}

json audit_stats_json(const store::AuditStats& s) {
  json by_status = json::object();
  for (const auto& [k, v] : s.by_status) by_status[k] = v;
  json by_model = json::array();
  for (const auto& m : s.by_model) {
    by_model.push_back({{"model", m.model},
                        {"backend", m.backend},
                        {"requests", m.requests},
                        {"errors", m.errors},
                        {"prompt_tokens", m.prompt_tokens},
                        {"completion_tokens", m.completion_tokens},
                        {"avg_duration_ms", m.avg_duration_ms},
                        {"avg_ttft_ms", opt(m.avg_ttft_ms)},
                        {"avg_tokens_per_second", opt(m.avg_tokens_per_second)}});
  }
  const int64_t ok = [&] {
    for (const auto& [k, v] : s.by_status) {
      if (k == "success") return v;
    }
    return int64_t{0};
  }();
  return json{{"total_requests", s.total},
              {"by_status", by_status},
              {"success_rate", s.total ? json(static_cast<double>(ok) / s.total) : json(nullptr)},
              {"prompt_tokens", s.prompt_tokens},
              {"completion_tokens", s.completion_tokens},
              {"avg_duration_ms", opt(s.avg_duration_ms)},
              {"avg_ttft_ms", opt(s.avg_ttft_ms)},
              {"first_timestamp_ms", opt(s.first_ts_ms)},
              {"last_timestamp_ms", opt(s.last_ts_ms)},
              {"by_model", by_model}};
}

}  // namespace mlxm::api
