#include "api/routing/count_tokens_route.h"

#include "api/routing/cloud_call.h"
#include "core/log.h"

namespace mlxm::api {

using cloud::ClientApi;
using cloud::ojson;

namespace {

http::HttpResponse tagged(http::HttpResponse r, const std::string& backend) {
  r.headers.set(kBackendHeader, backend);
  return r;
}

http::HttpResponse error(const ApiError& e, const std::string& backend) {
  return tagged(client_error_response(ClientApi::kAnthropicMessages, e), backend);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

enum class Step { kAnswered, kNext };

// Asks an Anthropic provider to count. `*out` is the answer when kAnswered.
Step ask_provider(cloud::CloudConfig& cloud, const cloud::ProviderConfig& p, const ojson& body,
                  const std::string& model, const http::HttpRequest& req, http::HttpResponse* out,
                  std::vector<std::string>* failures) {
  cloud::CircuitBreaker& breaker = cloud.breaker(p.name);
  if (!breaker.allow()) {
    failures->push_back(p.name + ": circuit open");
    return Step::kNext;
  }
  cloud::HeaderPairs forward;
  for (const char* h : {"anthropic-version", "anthropic-beta"}) {
    if (auto v = req.headers.get(h)) forward.emplace_back(h, *v);
  }
  auto plan = cloud::plan_upstream(ClientApi::kAnthropicMessages, body, p, model, forward);
  if (auto* e = std::get_if<ApiError>(&plan)) {
    *out = error(*e, p.name);
    return Step::kAnswered;
  }
  cloud::ClientRequest http = std::get<cloud::UpstreamPlan>(plan).http;
  http.url += "/count_tokens";  // .../messages -> .../messages/count_tokens
  auto res = cloud.client().perform(http);
  if (!res.ok()) {
    breaker.on_failure();
    failures->push_back(p.name + ": " + res.status().message());
    return Step::kNext;
  }
  const std::string key = cloud::resolve_api_key(p);
  if (res->status == 429 || res->status >= 500) {
    breaker.on_failure();
    failures->push_back(p.name + ": " + cloud::upstream_error(p.name, res->status, res->body, key).message);
    return Step::kNext;
  }
  breaker.on_success();
  if (res->status < 200 || res->status >= 300) {
    *out = error(cloud::upstream_error(p.name, res->status, res->body, key), p.name);
    return Step::kAnswered;
  }
  const ojson j = ojson::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("input_tokens") || !j["input_tokens"].is_number_integer()) {
    *out = error(ApiError{502, "server_error", "provider '" + p.name + "' answered count_tokens without input_tokens",
                          "", "backend_bad_response"},
                 p.name);
    return Step::kAnswered;
  }
  *out = tagged(http::HttpResponse::text(200, res->body, "application/json"), p.name);
  return Step::kAnswered;
}

}  // namespace

http::HttpResponse route_count_tokens(cloud::CloudConfig& cloud, const http::Handler& local,
                                      http::HttpRequest& req) {
  ojson body = ojson::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("model") || !body["model"].is_string()) {
    return tagged(local(req), cloud::kLocalBackend);  // the local handler explains what is wrong
  }
  const std::string model = body["model"].get<std::string>();
  const cloud::Resolution res = cloud.resolve(model);
  if (res.rule_index < 0) return tagged(local(req), cloud::kLocalBackend);
  std::vector<std::string> failures;
  bool any_can_count = false;
  for (size_t i = 0; i < res.chain.size(); ++i) {
    const cloud::BackendTarget& t = res.chain[i];
    const bool last = i + 1 == res.chain.size();
    if (t.backend == cloud::kLocalBackend) {
      any_can_count = true;
      ojson b = body;
      b["model"] = t.model;
      req.body = b.dump();
      http::HttpResponse r = local(req);
      if (local_failed_before_start(r) && !last) {
        failures.push_back("local: model '" + t.model + "' unavailable");
        continue;
      }
      return tagged(std::move(r), cloud::kLocalBackend);
    }
    auto p = cloud.provider(t.backend);
    if (!p) {
      failures.push_back(t.backend + ": no such provider");
      continue;
    }
    if (cloud::provider_protocol(p->kind) != cloud::WireProtocol::kAnthropic) {
      failures.push_back(t.backend + ": an " + cloud::provider_kind_name(p->kind) +
                         " provider cannot count tokens");
      continue;
    }
    any_can_count = true;
    if (!p->enabled) {
      failures.push_back(t.backend + ": disabled");
      continue;
    }
    if (cloud::resolve_api_key(*p).empty()) {
      failures.push_back(t.backend + ": no API key");
      continue;
    }
    http::HttpResponse out;
    if (ask_provider(cloud, *p, body, t.model, req, &out, &failures) == Step::kAnswered) return out;
  }
  const std::string first = res.chain.front().backend;  // a chain is never empty
  if (!any_can_count) {
    return error(ApiError::invalid("model", "cannot count tokens for model '" + model +
                                                "': it is served by " + join(failures) +
                                                " (counting works for local models and Anthropic providers)"),
                 first);
  }
  MLXM_LOG_WARN("count_tokens for '{}': no backend could count: {}", model, join(failures));
  return error(ApiError{502, "server_error", "no backend could count tokens for model '" + model + "': " + join(failures),
                        "", "backend_unavailable"},
               first);
}

}  // namespace mlxm::api
