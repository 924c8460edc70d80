#include "api/routing/cloud_call.h"

#include <random>

#include "api/schema/anthropic_request.h"
#include "core/log.h"

namespace mlxm::api {

using cloud::ClientApi;
using cloud::ojson;

namespace {

class TaggingPending : public http::PendingResponse {
 public:
  TaggingPending(std::shared_ptr<http::PendingResponse> inner, std::string backend)
      : inner_(std::move(inner)), backend_(std::move(backend)) {}
  bool send(http::HttpResponse r) override {
    r.headers.set(kBackendHeader, backend_);
    return inner_->send(std::move(r));
  }
  bool is_closed() const override { return inner_->is_closed(); }
  void on_close(std::function<void()> cb) override { inner_->on_close(std::move(cb)); }

 private:
  std::shared_ptr<http::PendingResponse> inner_;
  std::string backend_;
};

int64_t int_at(const ojson& j, const char* a, const char* b) {
  if (!j.is_object() || !j.contains(a) || !j[a].is_object()) return 0;
  const ojson& o = j[a];
  return o.contains(b) && o[b].is_number_integer() ? o[b].get<int64_t>() : 0;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

}  // namespace

http::HttpResponse client_error_response(ClientApi api, const ApiError& e) {
  return http::HttpResponse::text(
      e.http_status, api == ClientApi::kAnthropicMessages ? anthropic_error_body(e) : openai_error_body(e),
      "application/json");
}

std::shared_ptr<http::PendingResponse> tagging_pending(std::shared_ptr<http::PendingResponse> inner,
                                                       std::string backend) {
  return std::make_shared<TaggingPending>(std::move(inner), std::move(backend));
}

bool local_failed_before_start(const http::HttpResponse& r) {
  if (r.on_stream || r.on_pending) return false;
  return r.status == 404 || r.status == 500 || r.status == 503 || r.status == 507;
}

void CloudCall::cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_ = true;
  }
  cv_.notify_all();
}

void CloudCall::decide(Decision d) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (decision_ != Decision::kPending) return;
    decision_ = d;
  }
  cv_.notify_all();
}

CloudCall::Decision CloudCall::wait_decision() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return decision_ != Decision::kPending; });
  return decision_;
}

http::HttpResponse CloudCall::error_response() const { return client_error_response(s_.api, error_); }

void CloudCall::run() {
  std::vector<std::string> failures;
  for (size_t i = 0; i < s_.steps.size(); ++i) {
    const cloud::BackendTarget& t = s_.steps[i];
    if (t.backend == cloud::kLocalBackend) {
      if (s_.stream) {
        local_step_ = i;
        decide(Decision::kLocal);
        return;
      }
      run_local(i);
      if (decision_ == Decision::kPending) {  // the local step failed before starting
        failures.push_back("local: model '" + t.model + "' unavailable");
        continue;
      }
      return;
    }
    const Outcome o = try_provider(t, &failures);
    if (o != Outcome::kNext) {
      if (o == Outcome::kCancelled) {
        ApiError e;
        e.http_status = 499;
        e.type = "cancelled";
        e.message = "the request was cancelled";
        fail(e);
      }
      return;
    }
  }
  ApiError e;
  e.http_status = 502;
  e.type = "server_error";
  e.code = "backend_unavailable";
  e.message = "no backend could serve model '" + s_.requested_model + "': " + join(failures);
  fail(e);
}

void CloudCall::run_local(size_t step) {
  ojson body = s_.body;
  body["model"] = s_.steps[step].model;
  s_.request.body = body.dump();
  http::HttpResponse r = s_.local(s_.request);
  if (local_failed_before_start(r) && step + 1 < s_.steps.size()) return;  // try the next step
  decide(Decision::kServed);
  if (r.on_pending) {
    std::shared_ptr<http::PendingResponse> p;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!pending_) {
        local_deferred_ = std::move(r.on_pending);
        return;
      }
      p = pending_;
    }
    r.on_pending(tagging_pending(p, cloud::kLocalBackend));
    return;
  }
  if (r.on_stream) {  // cannot happen for a non-streamed request; answer rather than hang
    r = client_error_response(s_.api, ApiError{500, "server_error", "unexpected streamed answer", "", ""});
  }
  r.headers.set(kBackendHeader, cloud::kLocalBackend);
  send(std::move(r));
}

void CloudCall::fail(const ApiError& e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = e;
  }
  if (s_.stream) {
    decide(Decision::kFailed);  // the io thread answers; observed() records it
    return;
  }
  decide(Decision::kFailed);
  telemetry::RequestRecord& r = s_.trace.record();
  r.model = s_.requested_model;
  r.http_status = e.http_status;
  r.outcome = e.http_status == 499 ? telemetry::RequestOutcome::kCancelled : telemetry::RequestOutcome::kError;
  r.error_type = e.type;
  r.error_message = e.message;
  s_.trace.finish();
  send(client_error_response(s_.api, e));
}

bool CloudCall::sleep_backoff(int retry) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto d = cloud::backoff_delay(s_.cloud->options().retry, retry, rng);
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return cancel_.load(); });
}

CloudCall::Outcome CloudCall::try_provider(const cloud::BackendTarget& t,
                                           std::vector<std::string>* failures) {
  auto p = s_.cloud->provider(t.backend);
  if (!p) {
    failures->push_back(t.backend + ": no such provider");
    return Outcome::kNext;
  }
  if (!p->enabled) {
    failures->push_back(t.backend + ": disabled");
    return Outcome::kNext;
  }
  if (cloud::resolve_api_key(*p).empty()) {
    failures->push_back(t.backend + ": no API key (set " +
                        (cloud::key_env_name(*p).empty() ? std::string("api_key") : cloud::key_env_name(*p)) +
                        ")");
    return Outcome::kNext;
  }
  auto plan = cloud::plan_upstream(s_.api, s_.body, *p, t.model, s_.forward);
  if (auto* e = std::get_if<ApiError>(&plan)) {
    fail(*e);
    return Outcome::kFatal;
  }
  cloud::CircuitBreaker& breaker = s_.cloud->breaker(p->name);
  const int max_attempts = std::max(1, s_.cloud->options().retry.max_attempts);
  for (int a = 1; a <= max_attempts; ++a) {
    if (cancelled()) return Outcome::kCancelled;
    if (!breaker.allow()) {
      failures->push_back(p->name + ": circuit open");
      return Outcome::kNext;
    }
    bool retryable = false;
    std::string why;
    const auto& up = std::get<cloud::UpstreamPlan>(plan);
    const Outcome o = s_.stream ? stream_attempt(*p, up, &retryable, &why)
                                : plain_attempt(*p, up, &retryable, &why);
    if (o != Outcome::kNext) return o;
    MLXM_LOG_WARN("backend {} attempt {}/{} failed: {}", p->name, a, max_attempts, why);
    if (!retryable || a == max_attempts) {
      failures->push_back(p->name + ": " + why + " (" + std::to_string(a) + " attempt" +
                          (a == 1 ? "" : "s") + ")");
      return Outcome::kNext;
    }
    if (!sleep_backoff(a)) return Outcome::kCancelled;
  }
  return Outcome::kNext;
}

CloudCall::Outcome CloudCall::stream_attempt(const cloud::ProviderConfig& p,
                                             const cloud::UpstreamPlan& plan, bool* retryable,
                                             std::string* why) {
  cloud::CircuitBreaker& breaker = s_.cloud->breaker(p.name);
  cloud::StreamRelay relay(s_.api, cloud::provider_protocol(p.kind), s_.body, s_.requested_model);
  bool committed = false;
  Status malformed;
  cloud::TransferCallbacks cb;
  cb.on_head = [&](const cloud::ClientResponse& h) {
    if (h.status >= 200 && h.status < 300) {
      committed = true;
      {
        std::lock_guard<std::mutex> lock(mu_);
        backend_ = p.name;
      }
      decide(Decision::kServed);
    }
    return !cancelled();
  };
  cb.on_body = [&](std::string_view piece) {
    std::vector<std::string> frames;
    auto n = relay.feed(piece, &frames);
    for (auto& f : frames) emit(std::move(f));
    if (!n.ok()) {
      malformed = n.status();
      return false;
    }
    for (int k = 0; k < *n; ++k) s_.trace.on_token();
    return !cancelled();
  };
  auto res = s_.cloud->client().perform(plan.http, cb, &cancel_);
  if (committed) {
    telemetry::RequestRecord& r = s_.trace.record();
    r.model = s_.requested_model;
    r.backend = p.name;
    r.stream = true;
    r.http_status = 200;
    r.prompt_tokens = relay.usage().prompt_tokens;
    r.completion_tokens = relay.usage().completion_tokens;
    r.finish_reason = relay.finish_reason();
    if (!relay.complete() && !cancelled()) {
      ApiError e{502, "server_error", "", "", "backend_stream_error"};
      e.message = "provider '" + p.name + "' stream ended early: " +
                  (!malformed.ok() ? malformed.message()
                                   : res.ok() ? std::string("the connection closed") : res.status().message());
      emit(cloud::error_frame(s_.api, e));
      breaker.on_failure();
      r.outcome = telemetry::RequestOutcome::kError;
      r.error_type = e.type;
      r.error_message = e.message;
    } else if (cancelled()) {
      r.outcome = telemetry::RequestOutcome::kCancelled;
    } else {
      breaker.on_success();
    }
    s_.trace.finish();
    end_stream();
    return Outcome::kServed;
  }
  if (!res.ok()) {
    if (cancelled()) return Outcome::kCancelled;
    breaker.on_failure();
    *retryable = true;
    *why = res.status().message();
    return Outcome::kNext;
  }
  const ApiError e = cloud::upstream_error(p.name, res->status, res->body, cloud::resolve_api_key(p));
  if (res->status == 429 || res->status >= 500) {
    breaker.on_failure();
    *retryable = true;
    *why = e.message;
    return Outcome::kNext;
  }
  breaker.on_success();  // the provider is up; the request was refused
  fail(e);
  return Outcome::kFatal;
}

CloudCall::Outcome CloudCall::plain_attempt(const cloud::ProviderConfig& p,
                                            const cloud::UpstreamPlan& plan, bool* retryable,
                                            std::string* why) {
  cloud::CircuitBreaker& breaker = s_.cloud->breaker(p.name);
  auto res = s_.cloud->client().perform(plan.http, {}, &cancel_);
  if (!res.ok()) {
    if (cancelled()) return Outcome::kCancelled;
    breaker.on_failure();
    *retryable = true;
    *why = res.status().message();
    return Outcome::kNext;
  }
  const std::string key = cloud::resolve_api_key(p);
  if (res->status < 200 || res->status >= 300) {
    const ApiError e = cloud::upstream_error(p.name, res->status, res->body, key);
    if (res->status == 429 || res->status >= 500) {
      breaker.on_failure();
      *retryable = true;
      *why = e.message;
      return Outcome::kNext;
    }
    breaker.on_success();
    fail(e);
    return Outcome::kFatal;
  }
  breaker.on_success();
  auto body = cloud::relay_body(s_.api, cloud::provider_protocol(p.kind), res->body);
  if (auto* e = std::get_if<ApiError>(&body)) {
    fail(*e);
    return Outcome::kFatal;
  }
  const ojson up = ojson::parse(res->body, nullptr, false);
  telemetry::RequestRecord& r = s_.trace.record();
  r.model = s_.requested_model;
  r.backend = p.name;
  r.http_status = 200;
  if (cloud::provider_protocol(p.kind) == cloud::WireProtocol::kAnthropic) {
    r.prompt_tokens = int_at(up, "usage", "input_tokens");
    r.completion_tokens = int_at(up, "usage", "output_tokens");
  } else {
    r.prompt_tokens = int_at(up, "usage", "prompt_tokens");
    r.completion_tokens = int_at(up, "usage", "completion_tokens");
  }
  if (s_.trace.wants_content()) r.response_content = std::get<std::string>(body);
  s_.trace.finish();
  decide(Decision::kServed);
  http::HttpResponse out = http::HttpResponse::text(200, std::get<std::string>(std::move(body)), "application/json");
  out.headers.set(kBackendHeader, p.name);
  send(std::move(out));
  return Outcome::kServed;
}

void CloudCall::emit(std::string frame) {
  std::shared_ptr<http::ResponseStream> st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stream_) {
      early_frames_.push_back(std::move(frame));
      return;
    }
    st = stream_;
  }
  if (!st->write(std::move(frame))) cancel();
}

void CloudCall::end_stream() {
  std::shared_ptr<http::ResponseStream> st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ended_ = true;
    st = stream_;
  }
  if (st) st->close();
}

void CloudCall::send(http::HttpResponse r) {
  std::shared_ptr<http::PendingResponse> p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!pending_) {
      early_response_ = std::move(r);
      return;
    }
    p = pending_;
  }
  p->send(std::move(r));
}

http::HttpResponse CloudCall::stream_response() {
  std::weak_ptr<CloudCall> weak = shared_from_this();
  http::HttpResponse r = http::HttpResponse::sse([weak](std::shared_ptr<http::ResponseStream> st) {
    auto self = weak.lock();
    if (!self) {
      st->close();
      return;
    }
    st->on_close([weak] {
      if (auto s = weak.lock()) s->cancel();
    });
    std::lock_guard<std::mutex> lock(self->mu_);
    for (auto& f : self->early_frames_) st->write(std::move(f));
    self->early_frames_.clear();
    self->stream_ = st;
    if (self->stream_ended_) st->close();
  });
  std::lock_guard<std::mutex> lock(mu_);
  r.headers.set(kBackendHeader, backend_);
  return r;
}

http::HttpResponse CloudCall::deferred_response() {
  std::weak_ptr<CloudCall> weak = shared_from_this();
  return http::HttpResponse::deferred([weak](std::shared_ptr<http::PendingResponse> p) {
    auto self = weak.lock();
    if (!self) return;
    p->on_close([weak] {
      if (auto s = weak.lock()) s->cancel();
    });
    std::optional<http::HttpResponse> early;
    std::function<void(std::shared_ptr<http::PendingResponse>)> local;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->pending_ = p;
      early = std::move(self->early_response_);
      self->early_response_.reset();
      local = std::move(self->local_deferred_);
    }
    if (early) {
      p->send(std::move(*early));
    } else if (local) {
      local(tagging_pending(p, cloud::kLocalBackend));
    }
  });
}

}  // namespace mlxm::api
