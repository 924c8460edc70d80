// Backend routing for the model endpoints (/v1/chat/completions, /v1/completions,
// /v1/messages): wraps the local handler of each. For a request whose model matches a routing
// rule, the rule's chain runs: a local step calls the local handler and moves on when it fails
// before the first byte (model missing, cannot fit, load error, queue full: a plain 404, 500,
// 503 or 507); provider steps run on a worker thread (CloudCall). Unmatched models, and bodies
// without a string "model", go straight to the local handler. Every answer carries
// X-MLX-Backend: "local" or the provider that served.
//
// A streamed cloud request holds its io thread until the provider's response head arrives
// (the HTTP layer sends a streamed response's head before its body), then streams from the
// worker; a non-streamed one answers through a deferred response at once.
//
// Thread-safety: thread-safe; destroy it after the HTTP server stopped (the destructor
// cancels and joins running cloud calls).
#pragma once

#include <memory>
#include <string_view>

#include "api/http/http_types.h"
#include "api/routing/call_runner.h"
#include "cloud/cloud_config.h"
#include "cloud/upstream.h"
#include "telemetry/request_record.h"

namespace mlxm::api {

class BackendRouter {
 public:
  BackendRouter(std::shared_ptr<cloud::CloudConfig> cloud,
                std::shared_ptr<telemetry::RequestObserver> observer);

  // The handler to register in place of `local` for `api`.
  http::Handler wrap(cloud::ClientApi api, http::Handler local);

  // "openai.chat", "openai.completions", "anthropic.messages" -> the API; nullopt otherwise.
  static std::optional<cloud::ClientApi> api_from_name(std::string_view name);

 private:
  http::HttpResponse handle(cloud::ClientApi api, const http::Handler& local, http::HttpRequest& req);

  std::shared_ptr<cloud::CloudConfig> cloud_;
  std::shared_ptr<telemetry::RequestObserver> observer_;
  CallRunner runner_;
};

}  // namespace mlxm::api
