#include "api/http/router.h"

#include <gtest/gtest.h>

namespace mlxm::http {
namespace {

Handler tag(std::string name) {
  return [name](HttpRequest&) { return HttpResponse::text(200, name); };
}

std::string run(const RouteMatch& m) {
  HttpRequest req;
  return m.route->handler(req).body;
}

TEST(Router, LiteralAndParams) {
  Router r;
  r.add("GET", "/health", tag("health"));
  r.add("GET", "/v1/items/{id}", tag("item"));
  auto m = r.match("GET", "/health");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(run(m), "health");
  m = r.match("GET", "/v1/items/42");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.params.at("id"), "42");
  // A single-segment parameter does not take a slash, nor an empty segment.
  EXPECT_EQ(r.match("GET", "/v1/items/a/b").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "/v1/items/").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "/healthz").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "/health/").kind, RouteMatch::Kind::kNotFound);
}

TEST(Router, RestParamsTakeSlashes) {
  Router r;
  r.add("GET", "/v1/models/{model_id...}", tag("model"));
  r.add("POST", "/admin/models/{id...}/preload", tag("preload"));
  r.add("POST", "/admin/models/{id...}/unload", tag("unload"));
  auto m = r.match("GET", "/v1/models/mlx-community/Llama-3.2-1B-Instruct-4bit");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.params.at("model_id"), "mlx-community/Llama-3.2-1B-Instruct-4bit");
  m = r.match("GET", "/v1/models/plain");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.params.at("model_id"), "plain");
  EXPECT_EQ(r.match("GET", "/v1/models/").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "/v1/models").kind, RouteMatch::Kind::kNotFound);

  m = r.match("POST", "/admin/models/org/name/preload");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(run(m), "preload");
  EXPECT_EQ(m.params.at("id"), "org/name");
  m = r.match("POST", "/admin/models/a/b/c/unload");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(run(m), "unload");
  EXPECT_EQ(m.params.at("id"), "a/b/c");
  // A model whose name ends in "preload" still needs the suffix segment.
  m = r.match("POST", "/admin/models/org/preload/preload");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.params.at("id"), "org/preload");
  EXPECT_EQ(r.match("POST", "/admin/models/preload").kind, RouteMatch::Kind::kNotFound);
}

TEST(Router, MethodNotAllowedVersusNotFound) {
  Router r;
  r.add("GET", "/v1/models", tag("list"));
  r.add("POST", "/v1/models", tag("create"));
  r.add("DELETE", "/v1/models/{id...}", tag("delete"));
  auto m = r.match("PUT", "/v1/models");
  EXPECT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allowed_methods, (std::vector<std::string>{"GET", "POST"}));
  m = r.match("GET", "/v1/models/x/y");
  EXPECT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allowed_methods, (std::vector<std::string>{"DELETE"}));
  EXPECT_EQ(r.match("GET", "/v2/models").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "v1/models").kind, RouteMatch::Kind::kNotFound);
  EXPECT_TRUE(r.has_path("/v1/models/q"));
  EXPECT_FALSE(r.has_path("/nope"));
}

TEST(Router, MostSpecificRouteWins) {
  Router r;
  r.add("GET", "/v1/models/{id...}", tag("rest"));
  r.add("GET", "/v1/models/{id}", tag("one"));
  r.add("GET", "/v1/models/special", tag("literal"));
  EXPECT_EQ(run(r.match("GET", "/v1/models/special")), "literal");
  EXPECT_EQ(run(r.match("GET", "/v1/models/other")), "one");
  EXPECT_EQ(run(r.match("GET", "/v1/models/a/b")), "rest");
}

TEST(Router, WebSocketRoutesAreGet) {
  Router r;
  r.add_websocket("/ws/{name}", [](const HttpRequest&, std::shared_ptr<WebSocketConnection>) {});
  auto m = r.match("GET", "/ws/x");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_TRUE(m.route->websocket != nullptr);
  EXPECT_EQ(r.match("POST", "/ws/x").kind, RouteMatch::Kind::kMethodNotAllowed);
}

TEST(RouterDeathTest, BadPatternsAreBugs) {
  Router r;
  EXPECT_DEATH(r.add("GET", "no-slash", tag("x")), "start with");
  EXPECT_DEATH(r.add("GET", "/a/{}", tag("x")), "parameter");
  EXPECT_DEATH(r.add("GET", "/a/{x}/{x}", tag("x")), "duplicate");
  r.add("GET", "/a", tag("x"));
  EXPECT_DEATH(r.add("GET", "/a", tag("y")), "duplicate route");
}

}  // namespace
}  // namespace mlxm::http
