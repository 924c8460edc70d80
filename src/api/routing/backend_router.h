// Backend routing for the model endpoints (/v1/chat/completions, /v1/completions,
// /v1/messages): wraps the local handler of each. For a request whose model matches a routing
// rule, the rule's chain runs: a local step calls the local handler and moves on when it fails
// before the first byte (model missing, cannot fit, load error, queue full: a plain 404, 500,
// 503 or 507); provider steps run on a worker thread (CloudCall). Unmatched models, and bodies
// without a string "model", go straight to the local handler. Every answer carries
// X-MLX-Backend: "local" or the provider that served.
//
// A non-streamed local answer that times out (MLX_SERVER_TIMEOUT_CHAT_SECONDS) moves on to the
// rest of the chain: nothing was sent to the client yet. A streamed one cannot: its status line
// and first events are already out, so it ends with the timeout error event.
//
// A streamed cloud request waits for the provider's response head on the HTTP server's
// blocking pool (POST handlers run there), then streams from the worker; a non-streamed one
// answers through a deferred response at once.
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

  // The handler to register in place of the local /v1/messages/count_tokens handler
  // (api/routing/count_tokens_route.h).
  http::Handler wrap_count_tokens(http::Handler local);

  // "openai.chat", "openai.completions", "anthropic.messages" -> the API; nullopt otherwise.
  static std::optional<cloud::ClientApi> api_from_name(std::string_view name);

 private:
  http::HttpResponse handle(cloud::ClientApi api, const http::Handler& local, http::HttpRequest& req);
  // A non-streamed local answer (deferred) with backends left in the chain: when it ends in a
  // timeout (nothing was sent yet), the rest of the chain serves the request instead.
  http::HttpResponse fall_back_on_timeout(http::HttpResponse local_answer, cloud::ClientApi api,
                                          const http::Handler& local, const cloud::ojson& body, const http::HttpRequest& req,
                                          const std::string& model,
                                          std::vector<cloud::BackendTarget> rest);

  std::shared_ptr<cloud::CloudConfig> cloud_;
  std::shared_ptr<telemetry::RequestObserver> observer_;
  CallRunner runner_;
};

}  // namespace mlxm::api
