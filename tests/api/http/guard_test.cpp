// The router's guard hook: consulted after routing, before the handler; its denial replaces the
// handler's answer, its headers are added either way, and it can fill request.auth.
#include <gtest/gtest.h>

#include "api/http/detail/context.h"
#include "api/http/router.h"

namespace mlxm::http {
namespace {

Router guarded_router(int* n_guard_calls) {
  Router router;
  router.add("GET", "/open",
             [](HttpRequest& r) { return HttpResponse::text(200, "user=" + r.auth.username); });
  router.add("GET", "/closed/{id}", [](HttpRequest&) { return HttpResponse::text(200, "secret"); });
  router.add_websocket("/ws", [](const HttpRequest&, std::shared_ptr<WebSocketConnection>) {});
  router.set_guard([n_guard_calls](HttpRequest& r, const Route& route) {
    ++*n_guard_calls;
    GuardDecision d;
    d.headers.set("X-Guarded", route.pattern);
    if (route.pattern == "/closed/{id}" && r.path_params.at("id") != "me") {
      d.deny = HttpResponse::text(401, "no");
    } else {
      r.auth.username = "ada";
    }
    return d;
  });
  return router;
}

HttpResponse call(const detail::ServerContext& ctx, std::string method, std::string path) {
  HttpRequest req;
  req.method = std::move(method);
  req.path = std::move(path);
  const Route* route = nullptr;
  return detail::dispatch(ctx, req, &route);
}

TEST(RouterGuard, DenialReplacesTheHandlerAndHeadersAreAddedEitherWay) {
  int n = 0;
  detail::ServerContext ctx(ServerConfig{}, guarded_router(&n));
  HttpResponse ok = call(ctx, "GET", "/open");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "user=ada");  // the guard filled request.auth before the handler ran
  EXPECT_EQ(ok.headers.get("X-Guarded"), "/open");

  HttpResponse denied = call(ctx, "GET", "/closed/you");
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.body, "no");
  EXPECT_EQ(denied.headers.get("X-Guarded"), "/closed/{id}");
  // Path parameters are known to the guard.
  EXPECT_EQ(call(ctx, "GET", "/closed/me").body, "secret");
  EXPECT_EQ(n, 3);
}

TEST(RouterGuard, NotConsultedForUnmatchedPaths) {
  int n = 0;
  detail::ServerContext ctx(ServerConfig{}, guarded_router(&n));
  EXPECT_EQ(call(ctx, "GET", "/nope").status, 404);
  EXPECT_EQ(call(ctx, "POST", "/open").status, 405);
  EXPECT_EQ(n, 0);
}

TEST(RouterGuard, WebSocketUpgradesAskTheGuard) {
  int n = 0;
  Router router = guarded_router(&n);
  detail::ServerContext ctx(ServerConfig{}, std::move(router));
  HttpRequest req;
  req.method = "GET";
  req.path = "/ws";
  EXPECT_TRUE(detail::guard_allows(ctx, req, *ctx.router.match("GET", "/ws").route));
  EXPECT_EQ(req.auth.username, "ada");
  EXPECT_EQ(n, 1);
}

TEST(RouterGuard, WithoutAGuardEverythingIsOpen) {
  Router router;
  router.add("GET", "/x", [](HttpRequest&) { return HttpResponse::text(200, "x"); });
  detail::ServerContext ctx(ServerConfig{}, std::move(router));
  EXPECT_EQ(call(ctx, "GET", "/x").status, 200);
  HttpRequest req;
  EXPECT_TRUE(detail::guard_allows(ctx, req, *ctx.router.match("GET", "/x").route));
}

}  // namespace
}  // namespace mlxm::http
