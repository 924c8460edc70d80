// One client request served by cloud backends: the provider steps of its fallback chain, tried
// in order on a worker thread (CallRunner). Each provider gets up to RetryPolicy::max_attempts
// tries: 429, 5xx and connection errors back off (jittered) and retry, then the next backend
// is tried; other 4xx answers go back to the client. The provider's circuit breaker is asked
// before every try and told every outcome.
//
// Streams: the first 2xx response head commits the call to that provider (decision kServed):
// from then on bytes flow to the client and no other backend is tried; a stream cut by the
// provider ends with an error event. Non-streamed calls answer through a deferred response,
// and when every provider step failed and a local step follows, the call hands the request to
// the local handler itself.
//
// Thread-safety: the handler thread (wait_decision/stream_response/deferred_response; a POST
// handler runs on the HTTP server's blocking pool) and the worker (run) share the
// object under its mutex.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/http/http_types.h"
#include "api/observe/request_trace.h"
#include "cloud/cloud_config.h"
#include "cloud/upstream.h"

namespace mlxm::api {

struct CloudCallSetup {
  std::shared_ptr<cloud::CloudConfig> cloud;
  cloud::ClientApi api = cloud::ClientApi::kOpenAiChat;
  cloud::ojson body;                      // the client's body
  cloud::HeaderPairs forward;             // anthropic-version / anthropic-beta
  std::vector<cloud::BackendTarget> steps;  // the rest of the chain, first = a provider
  std::string requested_model;
  bool stream = false;
  RequestTrace trace;
  http::Handler local;      // the local handler (a later local step of a non-streamed call)
  http::HttpRequest request;
};

class CloudCall : public std::enable_shared_from_this<CloudCall> {
 public:
  enum class Decision { kPending, kServed, kFailed, kLocal };

  explicit CloudCall(CloudCallSetup setup) : s_(std::move(setup)) {}

  // Worker thread: runs the provider steps.
  void run();
  void cancel();

  // Streams, handler thread: blocks until a provider answered 2xx (kServed), all provider steps
  // failed (kFailed: error_response()), or a local step is next (kLocal: local_step()).
  Decision wait_decision();
  size_t local_step() const { return local_step_; }
  http::HttpResponse error_response() const;
  // kServed stream: the response whose stream receives the relayed frames.
  http::HttpResponse stream_response();
  // Non-streamed calls: the deferred response the worker completes.
  http::HttpResponse deferred_response();

 private:
  enum class Outcome { kServed, kNext, kFatal, kCancelled };
  Outcome try_provider(const cloud::BackendTarget& t, std::vector<std::string>* failures);
  Outcome stream_attempt(const cloud::ProviderConfig& p, const cloud::UpstreamPlan& plan,
                         bool* retryable, std::string* why);
  Outcome plain_attempt(const cloud::ProviderConfig& p, const cloud::UpstreamPlan& plan,
                        bool* retryable, std::string* why);
  void decide(Decision d);
  void emit(std::string frame);          // to the client stream (buffered until attached)
  void end_stream();
  void send(http::HttpResponse r);       // the deferred answer (kept until attached)
  void run_local(size_t step);           // non-streamed: a local step after the providers
  void fail(const ApiError& e);
  bool sleep_backoff(int retry);         // false when cancelled
  bool cancelled() const { return cancel_.load(); }

  CloudCallSetup s_;
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  Decision decision_ = Decision::kPending;
  size_t local_step_ = 0;
  ApiError error_;
  std::string backend_;  // the provider that served
  // Stream side.
  std::shared_ptr<http::ResponseStream> stream_;
  std::vector<std::string> early_frames_;
  bool stream_ended_ = false;
  // Deferred side.
  std::shared_ptr<http::PendingResponse> pending_;
  std::optional<http::HttpResponse> early_response_;
  std::function<void(std::shared_ptr<http::PendingResponse>)> local_deferred_;
};

// The error as a plain response in the client's protocol.
http::HttpResponse client_error_response(cloud::ClientApi api, const ApiError& e);

// A PendingResponse that adds X-MLX-Backend to what it forwards.
std::shared_ptr<http::PendingResponse> tagging_pending(std::shared_ptr<http::PendingResponse> inner,
                                                       std::string backend);

inline constexpr const char* kBackendHeader = "X-MLX-Backend";

// A local answer that failed before any byte (model missing, cannot fit, load error, queue
// full): a plain 404, 500, 503 or 507. The chain may move on to its next backend.
bool local_failed_before_start(const http::HttpResponse& r);

}  // namespace mlxm::api
