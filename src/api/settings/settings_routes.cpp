#include "api/settings/settings_routes.h"

#include <nlohmann/json.hpp>

#include "api/http/json.h"
#include "api/schema/api_error.h"
#include "cloud/upstream.h"
#include "core/clock.h"

namespace mlxm::api {

using nlohmann::json;

namespace {

http::HttpResponse error(const ApiError& e) {
  return http::HttpResponse::text(e.http_status, openai_error_body(e), "application/json");
}

// The body as a JSON object, or the 400 to send.
std::optional<json> body_object(const http::HttpRequest& req, http::HttpResponse* err) {
  http::JsonBody b = http::parse_json_body(req, /*require_object=*/true);
  if (!b.ok()) {
    *err = std::move(*b.error);
    return std::nullopt;
  }
  return std::move(b.value);
}

json rules_json(const cloud::CloudConfig& c) {
  json arr = json::array();
  for (const auto& r : c.snapshot()->rules->rules()) arr.push_back(cloud::rule_json(r));
  return json{{"rules", arr}};
}

json presets_json() {
  json arr = json::array();
  for (const auto& p : cloud::provider_presets()) {
    arr.push_back({{"name", p.name},
                   {"kind", cloud::provider_kind_name(p.kind)},
                   {"base_url", p.base_url},
                   {"api_key_env", p.key_env}});
  }
  return arr;
}

class SettingsHandlers {
 public:
  explicit SettingsHandlers(std::shared_ptr<cloud::CloudConfig> c) : c_(std::move(c)) {}

  http::HttpResponse list_rules(http::HttpRequest&) { return http::json_response(200, rules_json(*c_)); }

  http::HttpResponse add_rule(http::HttpRequest& req) {
    http::HttpResponse err;
    auto b = body_object(req, &err);
    if (!b) return err;
    int position = -1;
    if (b->contains("position")) {
      if (!(*b)["position"].is_number_integer() || (*b)["position"].get<int64_t>() < 0) {
        return error(ApiError::invalid("position", "'position' must be a non-negative integer"));
      }
      position = static_cast<int>(std::min<int64_t>((*b)["position"].get<int64_t>(), INT32_MAX));
      b->erase("position");
    }
    if (b->contains("id")) b->erase("id");
    auto r = c_->add_rule(*b, position);
    if (auto* e = std::get_if<ApiError>(&r)) return error(*e);
    return http::json_response(201, cloud::rule_json(std::get<cloud::Rule>(r)));
  }

  http::HttpResponse update_rule(http::HttpRequest& req) {
    http::HttpResponse err;
    auto b = body_object(req, &err);
    if (!b) return err;
    if (b->contains("id")) b->erase("id");
    auto r = c_->update_rule(req.path_param("id"), *b);
    if (auto* e = std::get_if<ApiError>(&r)) return error(*e);
    return http::json_response(200, cloud::rule_json(std::get<cloud::Rule>(r)));
  }

  http::HttpResponse delete_rule(http::HttpRequest& req) {
    if (auto e = c_->delete_rule(req.path_param("id"))) return error(*e);
    return http::HttpResponse::text(204, "");
  }

  http::HttpResponse reorder(http::HttpRequest& req) {
    http::HttpResponse err;
    auto b = body_object(req, &err);
    if (!b) return err;
    if (!b->contains("ids") || !(*b)["ids"].is_array()) {
      return error(ApiError::invalid("ids", "'ids' (an array of every rule id, in the new order) is required"));
    }
    std::vector<std::string> ids;
    for (const auto& v : (*b)["ids"]) {
      if (!v.is_string()) return error(ApiError::invalid("ids", "'ids' must hold strings"));
      ids.push_back(v.get<std::string>());
    }
    if (auto e = c_->reorder_rules(ids)) return error(*e);
    return http::json_response(200, rules_json(*c_));
  }

  http::HttpResponse test_rule(http::HttpRequest& req) {
    auto model = req.query_param("model");
    if (!model || model->empty()) {
      return error(ApiError::invalid("model", "the query parameter 'model' is required"));
    }
    const cloud::Resolution res = c_->resolve(*model);
    json chain = json::array();
    for (const auto& t : res.chain) chain.push_back({{"backend", t.backend}, {"model", t.model}});
    json out = {{"model", *model},
                {"matched", res.rule_index >= 0},
                {"rule", nullptr},
                {"rule_index", res.rule_index >= 0 ? json(res.rule_index) : json(nullptr)},
                {"backend", res.chain.front().backend},
                {"backend_model", res.chain.front().model},
                {"chain", chain}};
    if (res.rule_index >= 0) {
      out["rule"] = cloud::rule_json(c_->snapshot()->rules->rules()[static_cast<size_t>(res.rule_index)]);
    }
    return http::json_response(200, out);
  }

  http::HttpResponse list_providers(http::HttpRequest&) {
    json arr = json::array();
    auto snap = c_->snapshot();
    for (const auto& p : snap->providers) {
      json j = cloud::provider_json(p);
      j["circuit"] = cloud::breaker_state_name(c_->breaker(p.name).state());
      arr.push_back(std::move(j));
    }
    return http::json_response(200, json{{"providers", arr}, {"presets", presets_json()}});
  }

  http::HttpResponse add_provider(http::HttpRequest& req) {
    http::HttpResponse err;
    auto b = body_object(req, &err);
    if (!b) return err;
    auto p = c_->add_provider(*b);
    if (auto* e = std::get_if<ApiError>(&p)) return error(*e);
    return http::json_response(201, cloud::provider_json(std::get<cloud::ProviderConfig>(p)));
  }

  http::HttpResponse update_provider(http::HttpRequest& req) {
    http::HttpResponse err;
    auto b = body_object(req, &err);
    if (!b) return err;
    auto p = c_->update_provider(req.path_param("name"), *b);
    if (auto* e = std::get_if<ApiError>(&p)) return error(*e);
    return http::json_response(200, cloud::provider_json(std::get<cloud::ProviderConfig>(p)));
  }

  http::HttpResponse delete_provider(http::HttpRequest& req) {
    if (auto e = c_->delete_provider(req.path_param("name"))) return error(*e);
    return http::HttpResponse::text(204, "");
  }

  // GET {base_url}/models with the provider's key: proves the URL, the key and the network.
  http::HttpResponse test_provider(http::HttpRequest& req) {
    const std::string name = req.path_param("name");
    auto p = c_->provider(name);
    if (!p) return error(ApiError{404, "not_found_error", "no provider named '" + name + "'", "", ""});
    const std::string key = cloud::resolve_api_key(*p);
    cloud::ClientRequest r;
    r.method = "GET";
    r.url = p->base_url + "/models";
    if (cloud::provider_protocol(p->kind) == cloud::WireProtocol::kAnthropic) {
      if (!key.empty()) r.headers.emplace_back("x-api-key", key);
      r.headers.emplace_back("anthropic-version", "2023-06-01");
    } else if (!key.empty()) {
      r.headers.emplace_back("Authorization", "Bearer " + key);
    }
    cloud::HttpClientConfig cfg;
    cfg.connect_timeout_ms = 5000;
    cfg.read_timeout_ms = 10000;
    cloud::HttpClient client(cfg);
    const TimePoint t0 = now();
    auto res = client.perform(r);
    json out = {{"provider", name}, {"has_key", !key.empty()}};
    out["latency_ms"] = ms_since(t0);
    if (!res.ok()) {
      out["ok"] = false;
      out["status"] = nullptr;
      out["error"] = res.status().message();
    } else {
      out["ok"] = res->status >= 200 && res->status < 300;
      out["status"] = res->status;
      if (!out["ok"].get<bool>()) {
        out["error"] = cloud::upstream_error(name, res->status, res->body, key).message;
      } else {
        auto j = json::parse(res->body, nullptr, false);
        if (j.is_object() && j.contains("data") && j["data"].is_array()) out["n_models"] = j["data"].size();
      }
    }
    return http::json_response(200, out);
  }

 private:
  std::shared_ptr<cloud::CloudConfig> c_;
};

}  // namespace

void register_settings_routes(http::Router& router, SettingsDeps deps) {
  auto h = std::make_shared<SettingsHandlers>(deps.cloud);
  auto guard = deps.guard ? deps.guard : [](http::Handler x) { return x; };
  using M = http::HttpResponse (SettingsHandlers::*)(http::HttpRequest&);
  auto add = [&](const char* method, const char* path, M m) {
    router.add(method, path, guard([h, m](http::HttpRequest& r) { return ((*h).*m)(r); }));
  };
  add("GET", "/api/settings/rules", &SettingsHandlers::list_rules);
  add("POST", "/api/settings/rules", &SettingsHandlers::add_rule);
  add("POST", "/api/settings/rules/reorder", &SettingsHandlers::reorder);
  add("POST", "/api/settings/rules/test", &SettingsHandlers::test_rule);
  add("PUT", "/api/settings/rules/{id}", &SettingsHandlers::update_rule);
  add("DELETE", "/api/settings/rules/{id}", &SettingsHandlers::delete_rule);
  add("GET", "/api/settings/providers", &SettingsHandlers::list_providers);
  add("POST", "/api/settings/providers", &SettingsHandlers::add_provider);
  add("PUT", "/api/settings/providers/{name}", &SettingsHandlers::update_provider);
  add("DELETE", "/api/settings/providers/{name}", &SettingsHandlers::delete_provider);
  add("POST", "/api/settings/providers/{name}/test", &SettingsHandlers::test_provider);
}

}  // namespace mlxm::api
