#include "api/routing/backend_router.h"

#include "api/routing/cloud_call.h"
#include "api/routing/count_tokens_route.h"
#include "core/log.h"

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

// A local deferred answer's PendingResponse: a timeout (408) goes to `on_timeout` instead of
// the client; anything else is forwarded with X-MLX-Backend: local.
class TimeoutInterceptor : public http::PendingResponse {
 public:
  TimeoutInterceptor(std::shared_ptr<http::PendingResponse> inner,
                     std::function<void(std::shared_ptr<http::PendingResponse>)> on_timeout)
      : inner_(std::move(inner)), on_timeout_(std::move(on_timeout)) {}
  bool send(http::HttpResponse r) override {
    if (r.status == 408 && !r.on_stream && !r.on_pending && on_timeout_) {
      auto fallback = std::move(on_timeout_);
      on_timeout_ = nullptr;
      fallback(inner_);
      return true;
    }
    r.headers.set(kBackendHeader, cloud::kLocalBackend);
    return inner_->send(std::move(r));
  }
  bool is_closed() const override { return inner_->is_closed(); }
  void on_close(std::function<void()> cb) override { inner_->on_close(std::move(cb)); }

 private:
  std::shared_ptr<http::PendingResponse> inner_;
  std::function<void(std::shared_ptr<http::PendingResponse>)> on_timeout_;
};

}  // namespace

http::HttpResponse BackendRouter::fall_back_on_timeout(http::HttpResponse local_answer, ClientApi api,
                                                       const http::Handler& local, const ojson& body, const http::HttpRequest& req,
                                                       const std::string& model,
                                                       std::vector<cloud::BackendTarget> rest) {
  local_answer.headers.set(kBackendHeader, cloud::kLocalBackend);
  auto inner = std::move(local_answer.on_pending);
  // Everything the rest of the chain needs, kept until the local answer is known.
  auto setup = std::make_shared<CloudCallSetup>();
  setup->cloud = cloud_;
  setup->api = api;
  setup->body = body;
  setup->forward = forwarded_headers(req);
  setup->steps = std::move(rest);
  setup->requested_model = model;
  setup->stream = false;
  setup->local = local;
  setup->request = req;
  local_answer.on_pending = [this, inner = std::move(inner), setup](std::shared_ptr<http::PendingResponse> p) {
    auto on_timeout = [this, setup](std::shared_ptr<http::PendingResponse> client) {
      MLXM_LOG_WARN("local backend timed out for '{}'; trying '{}'", setup->requested_model,
                    setup->steps.front().backend);
      CloudCallSetup s = *setup;
      s.trace = RequestTrace(observer_, s.request);
      auto call = std::make_shared<CloudCall>(std::move(s));
      runner_.launch([call] { call->run(); }, [call] { call->cancel(); });
      call->deferred_response().on_pending(std::move(client));
    };
    inner(std::make_shared<TimeoutInterceptor>(std::move(p), std::move(on_timeout)));
  };
  return local_answer;
}

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

http::Handler BackendRouter::wrap_count_tokens(http::Handler local) {
  return [this, local = std::move(local)](http::HttpRequest& req) {
    return route_count_tokens(*cloud_, local, req);
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
      if (!stream && r.on_pending && i + 1 < chain.size()) {
        return fall_back_on_timeout(std::move(r), api, local, body, req, model,
                                    {chain.begin() + static_cast<std::ptrdiff_t>(i) + 1, chain.end()});
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
