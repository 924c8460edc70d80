// E2E: WebSocket upgrade on a route, text messages both ways, ping/pong, closes.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

struct WsClient {
  explicit WsClient(uint16_t port) : ws(ioc) {
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    ws.next_layer().connect(ep);
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set("X-Request-ID", "ws-test-1");
    }));
    ws.handshake(response, "127.0.0.1", "/test/ws-echo");
  }
  std::string read() {
    beast::flat_buffer buf;
    ws.read(buf);
    return beast::buffers_to_string(buf.data());
  }
  net::io_context ioc;
  websocket::stream<net::ip::tcp::socket> ws;
  websocket::response_type response;
};

nlohmann::json stats(const ServerProcess& s) { return s.get("/test/stats").json(); }

TEST(WebSocket, EchoRoundTripAndPing) {
  ServerProcess server;
  ASSERT_TRUE(server.ok()) << server.error();
  WsClient c(server.port());
  EXPECT_EQ(c.response[beast::http::field::server], "mlx-manager/0.1.0");
  EXPECT_EQ(c.response["X-Request-ID"], "ws-test-1");
  for (int i = 0; i < 3; ++i) {
    c.ws.text(true);
    c.ws.write(net::buffer("hello " + std::to_string(i)));
    EXPECT_EQ(c.read(), "echo: hello " + std::to_string(i));
  }
  // Ping: the pong arrives as a control frame while reading.
  bool got_pong = false;
  c.ws.control_callback([&](websocket::frame_type kind, beast::string_view payload) {
    if (kind == websocket::frame_type::pong && payload == "p1") got_pong = true;
  });
  c.ws.ping("p1");
  c.ws.write(net::buffer(std::string("after ping")));
  EXPECT_EQ(c.read(), "echo: after ping");
  EXPECT_TRUE(got_pong);
  // Server-initiated close.
  c.ws.write(net::buffer(std::string("close")));
  beast::flat_buffer buf;
  beast::error_code ec;
  c.ws.read(buf, ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(c.ws.reason().code, websocket::close_code::normal);
  EXPECT_EQ(stats(server)["ws_messages"], 5);
}

TEST(WebSocket, ClientCloseFiresOnClose) {
  ServerProcess server;
  ASSERT_TRUE(server.ok()) << server.error();
  {
    WsClient c(server.port());
    c.ws.write(net::buffer(std::string("x")));
    EXPECT_EQ(c.read(), "echo: x");
    c.ws.close(websocket::close_code::normal);
  }
  EXPECT_TRUE(eventually([&] { return stats(server)["ws_disconnects"] == 1; }, 3000));
  {
    WsClient c(server.port());
    c.ws.next_layer().close();  // abrupt: no close frame
  }
  EXPECT_TRUE(eventually([&] { return stats(server)["ws_disconnects"] == 2; }, 3000));
}

TEST(WebSocket, PlainGetOnWebSocketRouteIs426) {
  ServerProcess server;
  ASSERT_TRUE(server.ok()) << server.error();
  HttpResult r = server.get("/test/ws-echo");
  EXPECT_EQ(r.status, 426);
  EXPECT_EQ(r.json()["error"]["code"], "upgrade_required");
}

}  // namespace
}  // namespace mlxm::e2e
