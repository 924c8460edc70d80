#include "api/observe/request_trace.h"

#include <nlohmann/json.hpp>

namespace mlxm::api {
namespace {

constexpr size_t kMaxTokenGaps = 1 << 16;

std::string model_from_body(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("model") && j["model"].is_string()) {
    return j["model"].get<std::string>();
  }
  return "";
}

}  // namespace

RequestTrace::RequestTrace(std::shared_ptr<telemetry::RequestObserver> observer,
                           const http::HttpRequest& request)
    : observer_(std::move(observer)), t0_(now()) {
  if (!observer_) return;
  record_.request_id = request.request_id;
  record_.t_start_unix_ms = unix_ms();
  record_.method = request.method;
  record_.endpoint = request.path;
  record_.client_address = request.client_address;
  record_.api_key_id = request.auth.api_key_id;  // set by the router's guard; never the key
  if (observer_->wants_content()) record_.prompt_content = request.body;
}

void RequestTrace::on_token() {
  if (!observer_) return;
  const TimePoint t = now();
  if (!have_token_) {
    record_.ttft_ms = ms_between(t0_, t);
    have_token_ = true;
  } else if (record_.inter_token_ms.size() < kMaxTokenGaps) {
    record_.inter_token_ms.push_back(static_cast<float>(ms_between(t_last_token_, t)));
  }
  t_last_token_ = t;
}

void RequestTrace::finish() {
  if (!observer_ || finished_) return;
  finished_ = true;
  record_.duration_ms = ms_since(t0_);
  observer_->on_request_complete(std::move(record_));
}

void error_from_body(const std::string& body, std::string* type, std::string* message) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return;
  const auto& e = j["error"];
  if (e.contains("type") && e["type"].is_string()) *type = e["type"].get<std::string>();
  if (e.contains("message") && e["message"].is_string()) *message = e["message"].get<std::string>();
}

http::Handler observed(std::shared_ptr<telemetry::RequestObserver> observer, http::Handler handler) {
  if (!observer) return handler;
  return [observer, handler = std::move(handler)](http::HttpRequest& req) {
    RequestTrace trace(observer, req);
    http::HttpResponse resp = handler(req);
    if (resp.on_stream || resp.on_pending) return resp;  // the session records it
    telemetry::RequestRecord& r = trace.record();
    r.http_status = resp.status;
    r.model = model_from_body(req.body);
    if (resp.status >= 400) {
      r.outcome = resp.status == 408 ? telemetry::RequestOutcome::kTimeout
                                     : telemetry::RequestOutcome::kError;
      std::string type, message;
      error_from_body(resp.body, &type, &message);
      r.error_type = type;
      r.error_message = message;
    }
    if (trace.wants_content() && resp.status < 400) r.response_content = resp.body;
    trace.finish();
    return resp;
  };
}

}  // namespace mlxm::api
