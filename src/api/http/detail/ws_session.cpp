#include "api/http/detail/ws_session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "core/log.h"

namespace mlxm::http::detail {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using boost::system::error_code;
using WsStream = websocket::stream<beast::tcp_stream>;

namespace {

class WsImpl final : public WebSocketConnection {
 public:
  explicit WsImpl(std::shared_ptr<Channel> ch) : ch_(std::move(ch)) {}
  bool send(std::string text) override { return ch_->push(std::move(text)); }
  void close() override { ch_->request_close(); }
  bool is_closed() const override { return ch_->is_closed(); }
  size_t n_queued() const override { return ch_->size(); }
  void on_message(std::function<void(std::string)> cb) override {
    std::lock_guard lock(mu_);
    on_message_ = std::move(cb);
  }
  void on_close(std::function<void()> cb) override { ch_->add_on_close(std::move(cb)); }

  void deliver(std::string message) {
    std::function<void(std::string)> cb;
    {
      std::lock_guard lock(mu_);
      cb = on_message_;
    }
    if (!cb) return;
    try {
      cb(std::move(message));
    } catch (...) {
      MLXM_LOG_ERROR("websocket on_message callback threw");
    }
  }

 private:
  std::shared_ptr<Channel> ch_;
  std::mutex mu_;
  std::function<void(std::string)> on_message_;
};

struct ReadState {
  bool done = false;
};

net::awaitable<void> read_loop(WsStream& ws, std::shared_ptr<WsImpl> impl,
                               std::shared_ptr<ReadState> state, std::shared_ptr<Wakeup> wakeup) {
  beast::flat_buffer buffer;
  while (true) {
    error_code ec;
    co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
    if (ec) break;
    impl->deliver(beast::buffers_to_string(buffer.data()));
    buffer.consume(buffer.size());
  }
  state->done = true;
  wakeup->notify();
}

}  // namespace

net::awaitable<void> run_websocket(ServerContext& ctx, beast::tcp_stream stream,
                                   beast::http::request<beast::http::string_body> upgrade,
                                   HttpRequest request, const Route& route) {
  auto executor = co_await net::this_coro::executor;
  WsStream ws(std::move(stream));
  beast::get_lowest_layer(ws).expires_never();
  websocket::stream_base::timeout opt{};
  opt.handshake_timeout = std::chrono::seconds(10);
  opt.idle_timeout = ctx.config.websocket_idle_timeout;  // a ping goes out at half of it
  opt.keep_alive_pings = true;
  ws.set_option(opt);
  std::string rid = request.request_id;
  ws.set_option(websocket::stream_base::decorator([rid](websocket::response_type& res) {
    res.set(beast::http::field::server, "mlx-manager/" MLXM_VERSION);
    res.set("X-Request-ID", rid);
  }));
  ws.read_message_max(ctx.config.max_body_bytes);
  error_code ec;
  co_await ws.async_accept(upgrade, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return;

  auto wakeup = std::make_shared<Wakeup>(executor);
  auto ch = std::make_shared<Channel>(wakeup->poster(executor));
  ChannelEnd end_guard(ch);
  auto impl = std::make_shared<WsImpl>(ch);
  try {
    route.websocket(request, impl);
  } catch (...) {
    MLXM_LOG_ERROR("websocket handler for {} threw", route.pattern);
    impl->close();
  }
  auto reading = std::make_shared<ReadState>();
  net::co_spawn(executor, read_loop(ws, impl, reading, wakeup), net::detached);

  bool failed = false;
  while (!failed) {
    bool close_requested = false;
    std::deque<std::string> items = ch->take(&close_requested);
    if (reading->done) break;  // the client closed or the connection failed
    for (auto& item : items) {
      ws.text(true);
      co_await ws.async_write(net::buffer(item), net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        failed = true;
        break;
      }
    }
    if (failed) break;
    if (!items.empty()) continue;
    if (close_requested) {
      co_await ws.async_close(websocket::close_code::normal,
                              net::redirect_error(net::use_awaitable, ec));
      end_guard.finish_normally();
      break;
    }
    co_await wakeup->wait();
  }
  end_guard.end();
  if (!reading->done) {
    beast::get_lowest_layer(ws).close();
    while (!reading->done) co_await wakeup->wait();
  }
}

}  // namespace mlxm::http::detail
