#include "api/handlers/system_handlers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

namespace mlxm::handlers {
namespace {

http::HttpResponse call(const http::Router& router, const std::string& method,
                        const std::string& path) {
  auto m = router.match(method, path);
  EXPECT_EQ(m.kind, http::RouteMatch::Kind::kFound) << path;
  http::HttpRequest req;
  req.method = method;
  req.path = path;
  req.path_params = m.params;
  return m.route->handler(req);
}

TEST(SystemHandlers, HealthReportsDraining) {
  std::atomic<bool> draining{false};
  http::Router router;
  register_system_routes(router, {.version = "9.9.9", .is_draining = [&] { return draining.load(); }, .list_models = nullptr, .list_model_objects = nullptr});
  auto r = call(router, "GET", "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body), nlohmann::json({{"status", "healthy"}, {"version", "9.9.9"}}));
  EXPECT_TRUE(router.match("GET", "/health").route->options.allow_while_draining);
  draining = true;
  r = call(router, "GET", "/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(nlohmann::json::parse(r.body)["status"], "draining");
}

TEST(SystemHandlers, ModelsComeFromTheProvider) {
  http::Router router;
  int calls = 0;
  register_system_routes(router, {.version = "1",
                                  .is_draining = nullptr,
                                  .list_models = [&] {
                                    ++calls;
                                    return std::vector<ModelEntry>{{"org/a-4bit", 1700000000, "org"},
                                                                   {"b", 1, "mlx-manager"}};
                                  },
                                  .list_model_objects = nullptr});
  auto list = nlohmann::json::parse(call(router, "GET", "/v1/models").body);
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 2u);
  EXPECT_EQ(list["data"][0], nlohmann::json({{"id", "org/a-4bit"}, {"object", "model"},
                                             {"created", 1700000000}, {"owned_by", "org"}}));
  auto one = call(router, "GET", "/v1/models/org/a-4bit");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(nlohmann::json::parse(one.body)["id"], "org/a-4bit");
  auto missing = call(router, "GET", "/v1/models/org/zzz");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(calls, 3);
}

TEST(SystemHandlers, NoProviderMeansEmptyList) {
  http::Router router;
  register_system_routes(router, {.version = "1", .is_draining = nullptr, .list_models = nullptr, .list_model_objects = nullptr});
  auto list = nlohmann::json::parse(call(router, "GET", "/v1/models").body);
  EXPECT_TRUE(list["data"].is_array());
  EXPECT_TRUE(list["data"].empty());
  EXPECT_EQ(call(router, "GET", "/health").status, 200);
}

TEST(SystemHandlers, ModelObjectsWinAndKeepTheirExtraFields) {
  http::Router router;
  register_system_routes(
      router, {.version = "1",
               .is_draining = nullptr,
               .list_models = [] { return std::vector<ModelEntry>{{"ignored", 1, "x"}}; },
               .list_model_objects = [] {
                 return std::vector<nlohmann::json>{{{"id", "org/m"}, {"object", "model"},
                                                     {"created", 2}, {"owned_by", "mlx-manager"},
                                                     {"loaded", false}}};
               }});
  auto list = nlohmann::json::parse(call(router, "GET", "/v1/models").body);
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], "org/m");
  EXPECT_EQ(list["data"][0]["loaded"], false);
  auto one = call(router, "GET", "/v1/models/org/m");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(nlohmann::json::parse(one.body)["loaded"], false);
  EXPECT_EQ(call(router, "GET", "/v1/models/ignored").status, 404);
}

}  // namespace
}  // namespace mlxm::handlers
