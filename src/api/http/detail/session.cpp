#include "api/http/detail/session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "api/http/detail/channel.h"
#include "api/http/detail/ws_session.h"
#include "api/http/json.h"
#include "core/log.h"

namespace mlxm::http::detail {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kAwait = net::use_awaitable;
constexpr const char* kServerName = "mlx-manager/" MLXM_VERSION;

struct InFlight {
  explicit InFlight(ServerContext* c) : ctx(c) { ctx->in_flight.fetch_add(1); }
  ~InFlight() { ctx->in_flight.fetch_sub(1); }
  ServerContext* ctx;
};

class StreamImpl final : public ResponseStream {
 public:
  explicit StreamImpl(std::shared_ptr<Channel> ch) : ch_(std::move(ch)) {}
  bool write(std::string chunk) override {
    if (chunk.empty()) return !ch_->is_closed();  // an empty chunk would end the body
    return ch_->push(std::move(chunk));
  }
  void close() override { ch_->request_close(); }
  bool is_closed() const override { return ch_->is_closed(); }
  void on_close(std::function<void()> cb) override { ch_->add_on_close(std::move(cb)); }

 private:
  std::shared_ptr<Channel> ch_;
};

class PendingImpl final : public PendingResponse {
 public:
  explicit PendingImpl(std::shared_ptr<Channel> ch) : ch_(std::move(ch)) {}
  bool send(HttpResponse response) override { return ch_->set_response(std::move(response)); }
  bool is_closed() const override { return ch_->is_closed(); }
  void on_close(std::function<void()> cb) override { ch_->add_on_close(std::move(cb)); }

 private:
  std::shared_ptr<Channel> ch_;
};

// Watches the socket while a stream or deferred response is in progress: EOF or an error means
// the client went away. Bytes that arrive (a pipelined request) go to `buffer` and end the
// watch. Runs on the session's strand.
struct Watch {
  bool done = false;
  bool gone = false;
  bool stopping = false;
};

net::awaitable<void> watch_socket(tcp::socket& socket, beast::flat_buffer& buffer,
                                  std::shared_ptr<Watch> w, std::shared_ptr<Wakeup> wakeup) {
  // co_spawn starts this coroutine later on the strand: the response may already have been
  // sent and the watch cancelled by then. Reading now would wait for the client forever (it
  // is waiting for us), so a watch stopped before it started ends at once.
  if (w->stopping) {
    w->done = true;
    wakeup->notify();
    co_return;
  }
  error_code ec;
  auto buf = buffer.prepare(4096);
  size_t n = co_await socket.async_read_some(buf, net::redirect_error(kAwait, ec));
  if (!ec) {
    buffer.commit(n);
  } else if (!w->stopping) {
    w->gone = true;
  }
  w->done = true;
  wakeup->notify();
}

bhttp::response<bhttp::string_body> to_beast(HttpResponse& r, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
  for (auto& [k, v] : r.headers.entries()) res.insert(k, v);
  if (!r.headers.has("Server")) res.set(bhttp::field::server, kServerName);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

// Writes a last error response, then closes politely: shut down our sending side and read
// (and drop) what the client still sends for a moment, so that it sees the response instead of
// a reset.
net::awaitable<void> reply_and_close(beast::tcp_stream& stream, HttpResponse response,
                                     const std::string& request_id) {
  response.headers.set("X-Request-ID", request_id);
  auto res = to_beast(response, 11, false);
  error_code ec;
  stream.expires_after(std::chrono::seconds(5));
  co_await bhttp::async_write(stream, res, net::redirect_error(kAwait, ec));
  if (ec) co_return;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 16384> sink;
  size_t total = 0;
  stream.expires_after(std::chrono::seconds(2));
  while (total < (64u << 20)) {
    size_t n = co_await stream.async_read_some(net::buffer(sink), net::redirect_error(kAwait, ec));
    if (ec) break;
    total += n;
  }
}

HttpRequest to_request(const bhttp::request<bhttp::string_body>& req, const tcp::socket& socket,
                       bool* target_ok) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  for (const auto& f : req) r.headers.add(std::string(f.name_string()), std::string(f.value()));
  *target_ok = parse_target(std::string_view(req.target().data(), req.target().size()), &r);
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (!ec) r.client_address = ep.address().to_string() + ":" + std::to_string(ep.port());
  r.request_id = request_id_for(r);
  return r;
}

// The path of a request whose reading failed, for the error's shape (Router::error_response):
// from the parsed head, else from the request line at the start of `buffer` (a head over the
// size limit is never parsed). "" when neither is there.
std::string path_of_failed_read(bhttp::request_parser<bhttp::string_body>& parser,
                                const beast::flat_buffer& buffer) {
  std::string target(parser.get().target());
  if (target.empty()) {
    auto data = buffer.cdata();
    std::string_view head(static_cast<const char*>(data.data()), std::min<size_t>(data.size(), 8192));
    head = head.substr(0, head.find("\r\n"));
    size_t sp = head.find(' ');
    if (sp == std::string_view::npos) return "";
    head.remove_prefix(sp + 1);
    target = std::string(head.substr(0, head.find(' ')));
  }
  HttpRequest r;
  return parse_target(target, &r) ? r.path : "";
}

// Streams an SSE (or any chunked) body. Always closes the connection afterwards.
net::awaitable<void> run_stream(ServerContext& ctx, beast::tcp_stream& stream,
                                beast::flat_buffer& buffer, HttpResponse& response,
                                unsigned version) {
  auto executor = co_await net::this_coro::executor;
  bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(response.status), version};
  for (auto& [k, v] : response.headers.entries()) head.insert(k, v);
  head.set(bhttp::field::server, kServerName);
  head.keep_alive(false);
  head.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> sr{head};
  error_code ec;
  stream.expires_after(ctx.config.write_timeout);
  co_await bhttp::async_write_header(stream, sr, net::redirect_error(kAwait, ec));
  if (ec) co_return;

  auto wakeup = std::make_shared<Wakeup>(executor);
  auto ch = std::make_shared<Channel>(wakeup->poster(executor));
  ChannelEnd end_guard(ch);
  auto stream_api = std::make_shared<StreamImpl>(ch);
  try {
    response.on_stream(stream_api);
  } catch (...) {
    MLXM_LOG_ERROR("stream callback threw");
    stream_api->close();
  }
  auto watch = std::make_shared<Watch>();
  net::co_spawn(executor, watch_socket(stream.socket(), buffer, watch, wakeup), net::detached);

  while (true) {
    bool close_requested = false;
    std::deque<std::string> items = ch->take(&close_requested);
    if (watch->gone) break;
    if (!items.empty()) {
      std::string batch;
      for (auto& s : items) batch += s;
      stream.expires_after(ctx.config.write_timeout);
      co_await net::async_write(stream, bhttp::make_chunk(net::buffer(batch)),
                                net::redirect_error(kAwait, ec));
      if (ec) break;
      continue;
    }
    if (close_requested) {
      stream.expires_after(ctx.config.write_timeout);
      co_await net::async_write(stream, bhttp::make_chunk_last(), net::redirect_error(kAwait, ec));
      if (!ec) end_guard.finish_normally();
      break;
    }
    co_await wakeup->wait();
  }
  end_guard.end();
  watch->stopping = true;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream.socket().close(ec);
  while (!watch->done) co_await wakeup->wait();
}

// Waits for a deferred response (or the client leaving). Returns nullopt when it left.
net::awaitable<std::optional<HttpResponse>> run_pending(tcp::socket& socket,
                                                        beast::flat_buffer& buffer,
                                                        HttpResponse& response) {
  auto executor = co_await net::this_coro::executor;
  auto wakeup = std::make_shared<Wakeup>(executor);
  auto ch = std::make_shared<Channel>(wakeup->poster(executor));
  ChannelEnd end_guard(ch);
  try {
    response.on_pending(std::make_shared<PendingImpl>(ch));
  } catch (...) {
    MLXM_LOG_ERROR("deferred-response callback threw");
    ch->set_response(error_response(500, "Internal server error.", "server_error"));
  }
  auto watch = std::make_shared<Watch>();
  // Only watch when nothing is buffered: buffered bytes are the next pipelined request.
  if (buffer.size() == 0) {
    net::co_spawn(executor, watch_socket(socket, buffer, watch, wakeup), net::detached);
  } else {
    watch->done = true;
  }
  std::optional<HttpResponse> out;
  while (true) {
    out = ch->take_response();
    if (out || watch->gone) break;
    co_await wakeup->wait();
  }
  if (out) end_guard.finish_normally();
  end_guard.end();
  if (!watch->done) {
    watch->stopping = true;
    error_code ec;
    socket.cancel(ec);
    while (!watch->done) co_await wakeup->wait();
  }
  co_return out;
}

}  // namespace

net::awaitable<void> run_session(std::shared_ptr<ServerContext> ctx, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  const ServerConfig& cfg = ctx->config;
  bool first = true;
  while (true) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(std::min<size_t>(cfg.max_header_bytes, UINT32_MAX)));
    parser.body_limit(cfg.max_body_bytes);
    error_code ec;
    stream.expires_after(first ? cfg.read_timeout : cfg.idle_timeout);
    first = false;
    co_await bhttp::async_read_header(stream, buffer, parser, net::redirect_error(kAwait, ec));
    if (!ec && parser.get()[bhttp::field::expect] == "100-continue" && !parser.is_done()) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
      stream.expires_after(cfg.write_timeout);
      co_await bhttp::async_write(stream, cont, net::redirect_error(kAwait, ec));
    }
    if (!ec && !parser.is_done()) {
      stream.expires_after(cfg.read_timeout);
      co_await bhttp::async_read(stream, buffer, parser, net::redirect_error(kAwait, ec));
    }
    if (ec) {
      HttpRequest none;
      std::string rid = request_id_for(none);
      // Built outside co_await: GCC mishandles temporaries with destructors inside a
      // co_await full-expression (destroyed twice).
      const Router& router = ctx->router;
      std::optional<HttpResponse> reply;
      if (ec == bhttp::error::body_limit) {
        reply = router.error_response(
            path_of_failed_read(parser, buffer),
            ErrorInfo{413, "Request body too large (limit " + std::to_string(cfg.max_body_bytes) + " bytes).",
                      "invalid_request_error", std::nullopt, "request_too_large"});
      } else if (ec == bhttp::error::header_limit) {
        reply = router.error_response(path_of_failed_read(parser, buffer),
                                      ErrorInfo{431, "Request headers too large.", "invalid_request_error",
                                                std::nullopt, "headers_too_large"});
      } else if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
                 ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        reply = router.error_response(path_of_failed_read(parser, buffer),
                                      ErrorInfo{400, "Malformed HTTP request: " + ec.message(),
                                                "invalid_request_error", std::nullopt, "bad_request"});
      }
      if (reply) co_await reply_and_close(stream, std::move(*reply), rid);
      break;  // EOF, timeout, reset: just close
    }
    InFlight in_flight(ctx.get());
    auto t_start = std::chrono::steady_clock::now();
    bhttp::request<bhttp::string_body> req = parser.release();
    bool target_ok = true;
    HttpRequest request = to_request(req, stream.socket(), &target_ok);
    request.body = std::move(req.body());
    bool keep_alive = req.keep_alive() && !ctx->draining.load();

    if (target_ok && beast::websocket::is_upgrade(req) && !ctx->draining.load()) {
      RouteMatch m = ctx->router.match("GET", request.path);
      if (m.kind == RouteMatch::Kind::kFound && m.route->websocket) {
        request.path_params = std::move(m.params);
        // A denied upgrade falls through to dispatch(), which answers the guard's denial.
        if (guard_allows(*ctx, request, *m.route)) {
          MLXM_LOG_DEBUG("websocket {} {}", request.path, request.request_id);
          co_await run_websocket(*ctx, std::move(stream), std::move(req), std::move(request),
                                 *m.route);
          co_return;
        }
      }
    }

    const Route* route = nullptr;
    HttpResponse response;
    if (!target_ok) {
      response = error_response(400, "Malformed percent-encoding in the request path.",
                                "invalid_request_error", std::nullopt, "bad_request");
    } else if (ctx->blocking_pool != nullptr && handled_off_io_thread(request.method)) {
      // The handler may block (a model loading): run it on the blocking pool and resume here.
      response = co_await net::co_spawn(
          ctx->blocking_pool->get_executor(),
          [&]() -> net::awaitable<HttpResponse> { co_return dispatch(*ctx, request, &route); },
          kAwait);
    } else {
      response = dispatch(*ctx, request, &route);
    }
    if (cfg.debug_handoff_delay.count() > 0 && (response.on_pending || response.on_stream)) {
      net::steady_timer delay(co_await net::this_coro::executor, cfg.debug_handoff_delay);
      error_code delay_ec;
      co_await delay.async_wait(net::redirect_error(kAwait, delay_ec));
    }
    if (response.on_pending) {
      auto got = co_await run_pending(stream.socket(), buffer, response);
      if (!got) break;  // the client left
      response = std::move(*got);
      response.on_stream = nullptr;
      response.on_pending = nullptr;
    }
    response.headers.set("X-Request-ID", request.request_id);
    ctx->cors.apply(request, response);
    int status = response.status;
    if (response.on_stream) {
      co_await run_stream(*ctx, stream, buffer, response, req.version());
      MLXM_LOG_DEBUG("{} {} -> {} stream ({})", request.method, request.target, status,
                     request.request_id);
      co_return;
    }
    auto res = to_beast(response, req.version(), keep_alive);
    stream.expires_after(cfg.write_timeout);
    co_await bhttp::async_write(stream, res, net::redirect_error(kAwait, ec));
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start);
    MLXM_LOG_DEBUG("{} {} -> {} {:.2f}ms ({})", request.method, request.target, status, ms.count(),
                   request.request_id);
    if (ec || !keep_alive) break;
  }
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
}

}  // namespace mlxm::http::detail
