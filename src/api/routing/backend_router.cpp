#include "api/routing/backend_router.h"

#include "api/routing/cloud_call.h"

namespace mlxm::api {

using cloud::ClientApi;
using cloud::ojson;

namespace {

// Adds X-MLX-Backend to a local answer, whatever its kind.
http::HttpResponse tag_local(http::HttpResponse r) {
  r.headers.set(kBackendHeader, cloud::kLocalBackend);
  if (r.on_pending) {
    r.on_pending = [inner = std::move(r.on_pending)](std::shared_ptr<http::PendingResponse> p) {
      inner(tagging_pending(std::move(p), cloud::kLocalBackend));
    };
  }
  return r;
}

cloud::HeaderPairs forwarded_headers(const http::HttpRequest& req) {
  cloud::HeaderPairs out;
  for (const char* h : {"anthropic-version", "anthropic-beta"}) {
    if (auto v = req.headers.get(h)) out.emplace_back(h, *v);
  }
  return out;
}

}  // namespace

BackendRouter::BackendRouter(std::shared_ptr<cloud::CloudConfig> cloud,
                             std::shared_ptr<telemetry::RequestObserver> observer)
    : cloud_(std::move(cloud)), observer_(std::move(observer)) {}

std::optional<ClientApi> BackendRouter::api_from_name(std::string_view name) {
  if (name == "openai.chat") return ClientApi::kOpenAiChat;
  if (name == "openai.completions") return ClientApi::kOpenAiCompletions;
  if (name == "anthropic.messages") return ClientApi::kAnthropicMessages;
  return std::nullopt;
}

http::Handler BackendRouter::wrap(ClientApi api, http::Handler local) {
  return [this, api, local = std::move(local)](http::HttpRequest& req) {
    return handle(api, local, req);
  };
}

http::HttpResponse BackendRouter::handle(ClientApi api, const http::Handler& local,
                                         http::HttpRequest& req) {
  ojson body = ojson::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("model") || !body["model"].is_string()) {
    return tag_local(local(req));  // the local handler explains what is wrong
  }
  const std::string model = body["model"].get<std::string>();
  const cloud::Resolution res = cloud_->resolve(model);
  if (res.rule_index < 0) return tag_local(local(req));
  const bool stream = body.contains("stream") && body["stream"].is_boolean() && body["stream"].get<bool>();
  const auto& chain = res.chain;
  size_t i = 0;
  bool rewritten = false;
  while (i < chain.size()) {
    if (chain[i].backend == cloud::kLocalBackend) {
      if (chain[i].model != model || rewritten) {
        ojson b = body;
        b["model"] = chain[i].model;
        req.body = b.dump();
        rewritten = true;
      }
      http::HttpResponse r = local(req);
      if (local_failed_before_start(r) && i + 1 < chain.size()) {
        ++i;
        continue;
      }
      return tag_local(std::move(r));
    }
    CloudCallSetup s;
    s.cloud = cloud_;
    s.api = api;
    s.body = body;
    s.forward = forwarded_headers(req);
    s.steps.assign(chain.begin() + static_cast<std::ptrdiff_t>(i), chain.end());
    s.requested_model = model;
    s.stream = stream;
    s.trace = RequestTrace(observer_, req);
    s.local = local;
    s.request = req;
    auto call = std::make_shared<CloudCall>(std::move(s));
    runner_.launch([call] { call->run(); }, [call] { call->cancel(); });
    if (!stream) return call->deferred_response();
    switch (call->wait_decision()) {
      case CloudCall::Decision::kServed: return call->stream_response();
      case CloudCall::Decision::kFailed: return call->error_response();
      case CloudCall::Decision::kLocal:
      case CloudCall::Decision::kPending: break;
    }
    i += call->local_step();  // the worker stopped at a local step
  }
  return tag_local(local(req));  // unreachable: a chain ends in a served or failed step
}

}  // namespace mlxm::api
