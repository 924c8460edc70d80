// Unit tests for the framework-free pieces: headers, percent-decoding, targets, SSE framing,
// JSON errors, CORS, static files and the dispatcher (404/405/426/503/500, OPTIONS).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api/http/cors.h"
#include "api/http/detail/context.h"
#include "api/http/json.h"
#include "api/http/static_files.h"

namespace mlxm::http {
namespace {

TEST(Headers, CaseInsensitive) {
  Headers h;
  h.add("Content-Type", "a");
  h.add("X-Thing", "1");
  h.add("x-thing", "2");
  EXPECT_EQ(h.get("content-type"), "a");
  EXPECT_EQ(h.get("X-THING"), "1");
  h.set("X-Thing", "3");
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(h.get("x-thing"), "3");
  h.erase("CONTENT-TYPE");
  EXPECT_FALSE(h.has("Content-Type"));
}

TEST(PercentDecode, Works) {
  EXPECT_EQ(percent_decode("a%2Fb%20c", false), "a/b c");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("%zz", false), std::nullopt);
  EXPECT_EQ(percent_decode("abc%2", false), std::nullopt);
  EXPECT_EQ(percent_decode("abc%", false), std::nullopt);
}

TEST(ParseTarget, PathAndQuery) {
  HttpRequest r;
  ASSERT_TRUE(detail::parse_target("/v1/models/org%2Fname?n=5&x=a+b&n=6&flag", &r));
  EXPECT_EQ(r.path, "/v1/models/org/name");
  EXPECT_EQ(r.query_param("n"), "5");
  EXPECT_EQ(r.query_param("x"), "a b");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("missing"), std::nullopt);
  HttpRequest bad;
  EXPECT_FALSE(detail::parse_target("/a%G0", &bad));
}

TEST(RequestId, PropagatesSaneOnesOnly) {
  HttpRequest r;
  std::string a = detail::request_id_for(r), b = detail::request_id_for(r);
  EXPECT_EQ(a.rfind("req_", 0), 0u);
  EXPECT_EQ(a.size(), 20u);
  EXPECT_NE(a, b);
  r.headers.set("X-Request-ID", "client-123");
  EXPECT_EQ(detail::request_id_for(r), "client-123");
  r.headers.set("X-Request-ID", "has space");
  EXPECT_NE(detail::request_id_for(r), "has space");
  r.headers.set("X-Request-ID", std::string(300, 'a'));
  EXPECT_EQ(detail::request_id_for(r).rfind("req_", 0), 0u);
}

TEST(Sse, EventFraming) {
  EXPECT_EQ(sse_event("{\"a\":1}"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_event("x\ny", "ping"), "event: ping\ndata: x\ndata: y\n\n");
}

TEST(Json, ErrorShapeAndParse) {
  HttpResponse e = error_response(400, "bad", "invalid_request_error", "model", "c1");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.headers.get("Content-Type"), "application/json");
  EXPECT_EQ(e.body,
            R"({"error":{"message":"bad","type":"invalid_request_error","param":"model","code":"c1"}})");
  EXPECT_EQ(error_response(not_found("x")).status, 404);
  EXPECT_EQ(error_response(unavailable("x")).status, 503);

  HttpRequest req;
  req.body = "{\"a\": [1, 2]}";
  JsonBody ok = parse_json_body(req);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value["a"][1], 2);
  for (const char* bad : {"", "{", "{\"a\":}", "[1,2]", "nul"}) {
    req.body = bad;
    JsonBody b = parse_json_body(req);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.error->status, 400);
    auto j = nlohmann::json::parse(b.error->body);
    EXPECT_EQ(j["error"]["code"], "invalid_json");
  }
  req.body = "[1,2]";
  EXPECT_TRUE(parse_json_body(req, /*require_object=*/false).ok());
}

TEST(Cors, PreflightAndHeaders) {
  Router router;
  router.add("GET", "/v1/models", [](HttpRequest&) { return HttpResponse::text(200, "x"); });
  router.add("POST", "/v1/models", [](HttpRequest&) { return HttpResponse::text(200, "x"); });
  CorsPolicy cors({"http://ui.local"});
  HttpRequest pre;
  pre.method = "OPTIONS";
  pre.headers.set("Origin", "http://ui.local");
  pre.headers.set("Access-Control-Request-Method", "POST");
  pre.headers.set("Access-Control-Request-Headers", "content-type");
  HttpResponse r = cors.options_response(pre, router.match("", "/v1/models"));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers.get("Access-Control-Allow-Origin"), "http://ui.local");
  EXPECT_EQ(r.headers.get("Access-Control-Allow-Methods"), "GET, POST, OPTIONS");
  EXPECT_EQ(r.headers.get("Access-Control-Allow-Headers"), "content-type");
  pre.headers.set("Origin", "http://evil.local");
  EXPECT_EQ(cors.options_response(pre, router.match("", "/v1/models")).status, 403);

  HttpRequest get;
  get.headers.set("Origin", "http://ui.local");
  HttpResponse plain = HttpResponse::text(200, "x");
  cors.apply(get, plain);
  EXPECT_EQ(plain.headers.get("Access-Control-Allow-Origin"), "http://ui.local");
  HttpResponse none = HttpResponse::text(200, "x");
  CorsPolicy({}).apply(get, none);
  EXPECT_FALSE(none.headers.has("Access-Control-Allow-Origin"));
  EXPECT_TRUE(CorsPolicy({"*"}).allows("http://anything"));
}

class StaticFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("mlxm_static_" + std::to_string(getpid()));
    std::filesystem::create_directories(root_ / "www" / "assets");
    std::ofstream(root_ / "www" / "index.html") << "<h1>ui</h1>";
    std::ofstream(root_ / "www" / "assets" / "app.js") << "let x = 1;";
    std::ofstream(root_ / "secret.txt") << "secret";
    std::filesystem::create_symlink(root_ / "secret.txt", root_ / "www" / "link.txt");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string www() const { return (root_ / "www").string(); }
  std::filesystem::path root_;
};

TEST_F(StaticFiles, ServesInsideRootOnly) {
  auto index = serve_static_file(www(), "/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->body, "<h1>ui</h1>");
  EXPECT_EQ(index->headers.get("Content-Type"), "text/html; charset=utf-8");
  auto js = serve_static_file(www(), "/assets/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->headers.get("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_FALSE(serve_static_file(www(), "/../secret.txt"));
  EXPECT_FALSE(serve_static_file(www(), "/assets/../../secret.txt"));
  EXPECT_FALSE(serve_static_file(www(), "/link.txt"));  // a link that leaves the root
  EXPECT_FALSE(serve_static_file(www(), "/missing.js"));
  EXPECT_FALSE(serve_static_file(www(), std::string_view("/index.html\0x", 13)));
  EXPECT_FALSE(serve_static_file(www(), "/..\\secret.txt"));
  EXPECT_FALSE(serve_static_file("", "/"));
}

TEST(Dispatch, StatusesAndHandlerErrors) {
  Router router;
  router.add("GET", "/ok", [](HttpRequest& r) { return HttpResponse::text(200, r.path); });
  router.add("GET", "/throws", [](HttpRequest&) -> HttpResponse { throw std::runtime_error("x"); });
  router.add("GET", "/health", [](HttpRequest&) { return HttpResponse::text(200, "h"); },
             RouteOptions{.allow_while_draining = true});
  router.add("GET", "/items/{id...}", [](HttpRequest& r) {
    return HttpResponse::text(200, r.path_param("id"));
  });
  router.add_websocket("/ws", [](const HttpRequest&, std::shared_ptr<WebSocketConnection>) {});
  detail::ServerContext ctx(ServerConfig{}, std::move(router));
  auto call = [&](std::string method, std::string path) {
    HttpRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    const Route* route = nullptr;
    return detail::dispatch(ctx, req, &route);
  };
  EXPECT_EQ(call("GET", "/ok").status, 200);
  EXPECT_EQ(call("GET", "/items/a/b").body, "a/b");
  EXPECT_EQ(call("GET", "/nope").status, 404);
  HttpResponse m = call("DELETE", "/ok");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.headers.get("Allow"), "GET");
  EXPECT_EQ(call("GET", "/throws").status, 500);
  EXPECT_EQ(call("GET", "/ws").status, 426);
  EXPECT_EQ(call("OPTIONS", "/ok").status, 204);
  EXPECT_EQ(call("OPTIONS", "/ok").headers.get("Allow"), "GET, OPTIONS");
  EXPECT_EQ(call("OPTIONS", "/nope").status, 404);
  ctx.draining = true;
  EXPECT_EQ(call("GET", "/ok").status, 503);
  EXPECT_EQ(call("GET", "/health").status, 200);
}

}  // namespace
}  // namespace mlxm::http
