#include "telemetry/trace_observer.h"

namespace mlxm::telemetry {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;

int64_t at_ms(int64_t t0_ns, double ms) {
  return t0_ns + static_cast<int64_t>(ms * kNsPerMs);
}

Span child(const Span& root, std::string name, int64_t start_ns, int64_t end_ns) {
  Span s;
  s.trace_id = root.trace_id;
  s.span_id = new_span_id();
  s.parent_span_id = root.span_id;
  s.name = std::move(name);
  s.start_unix_ns = start_ns;
  s.end_unix_ns = std::max(start_ns, end_ns);
  return s;
}

}  // namespace

Span span_for_model_load(const ModelLoadRecord& load) {
  Span s;
  s.trace_id = new_trace_id();
  s.span_id = new_span_id();
  s.name = "model load";
  s.start_unix_ns = load.start_unix_ms * kNsPerMs;
  s.end_unix_ns = at_ms(s.start_unix_ns, load.duration_ms);
  s.error = !load.ok;
  if (s.error) s.status_message = load.error.substr(0, 512);
  auto& a = s.attributes;
  a.emplace_back("mlx.model", load.model);
  a.emplace_back("mlx.model.bytes", static_cast<int64_t>(load.bytes));
  a.emplace_back("mlx.model.file_bytes", static_cast<int64_t>(load.file_bytes));
  a.emplace_back("mlx.model.load_ms", load.duration_ms);
  a.emplace_back("mlx.outcome", std::string(load.ok ? "loaded" : "error"));
  return s;
}

std::vector<Span> spans_for_request(const RequestRecord& r) {
  std::vector<Span> out;
  Span root;
  root.trace_id = new_trace_id();
  root.span_id = new_span_id();
  root.name = r.method + " " + r.endpoint;
  root.kind = 2;  // server
  root.start_unix_ns = r.t_start_unix_ms * kNsPerMs;
  root.end_unix_ns = at_ms(root.start_unix_ns, r.duration_ms);
  root.error = r.outcome != RequestOutcome::kSuccess;
  if (root.error) root.status_message = r.error_message.substr(0, 512);
  auto& a = root.attributes;
  a.emplace_back("http.request.method", r.method);
  a.emplace_back("http.route", r.endpoint);
  a.emplace_back("http.response.status_code", static_cast<int64_t>(r.http_status));
  a.emplace_back("mlx.request_id", r.request_id);
  a.emplace_back("mlx.outcome", std::string(request_outcome_name(r.outcome)));
  a.emplace_back("mlx.stream", r.stream);
  if (!r.model.empty()) a.emplace_back("gen_ai.request.model", r.model);
  if (!r.backend.empty()) a.emplace_back("mlx.backend", r.backend);
  if (!r.finish_reason.empty()) a.emplace_back("gen_ai.response.finish_reasons", r.finish_reason);
  a.emplace_back("gen_ai.usage.input_tokens", r.prompt_tokens);
  a.emplace_back("gen_ai.usage.output_tokens", r.completion_tokens);
  if (r.ttft_ms >= 0) a.emplace_back("mlx.ttft_ms", r.ttft_ms);
  if (!r.error_type.empty()) a.emplace_back("error.type", r.error_type);
  if (!r.api_key_id.empty()) a.emplace_back("mlx.api_key_id", r.api_key_id);
  out.push_back(root);

  const int64_t t0 = root.start_unix_ns;
  if (r.queue_ms >= 0) out.push_back(child(root, "queue", t0, at_ms(t0, r.queue_ms)));
  if (r.ttft_ms >= 0) {
    const double prefill_start = r.queue_ms >= 0 ? r.queue_ms : 0;
    out.push_back(child(root, "prefill", at_ms(t0, prefill_start), at_ms(t0, r.ttft_ms)));
    if (r.completion_tokens > 0) {
      Span d = child(root, "decode", at_ms(t0, r.ttft_ms), root.end_unix_ns);
      d.attributes.emplace_back("gen_ai.usage.output_tokens", r.completion_tokens);
      out.push_back(std::move(d));
    }
  }
  if (!r.backend.empty() && r.backend != "local") {
    Span c = child(root, "cloud call", t0, root.end_unix_ns);
    c.kind = 3;  // client
    c.attributes.emplace_back("mlx.backend", r.backend);
    out.push_back(std::move(c));
  }
  return out;
}

void TraceObserver::on_request_complete(RequestRecord record) {
  exporter_->add(spans_for_request(record));
}

void TeeObserver::on_request_complete(RequestRecord record) {
  for (size_t i = 0; i < observers_.size(); ++i) {
    if (i + 1 == observers_.size()) {
      observers_[i]->on_request_complete(std::move(record));
    } else {
      observers_[i]->on_request_complete(record);
    }
  }
}

bool TeeObserver::wants_content() const {
  for (const auto& o : observers_) {
    if (o->wants_content()) return true;
  }
  return false;
}

}  // namespace mlxm::telemetry
