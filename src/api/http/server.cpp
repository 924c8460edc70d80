#include "api/http/server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <thread>

#include "api/http/detail/context.h"
#include "api/http/detail/session.h"
#include "core/env.h"
#include "core/log.h"

namespace mlxm::http {
namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

Result<ServerConfig> server_config_from_env() {
  ServerConfig c;
  c.host = env_string("MLX_SERVER_HOST", c.host);
  MLXM_ASSIGN_OR_RETURN(int64_t port, env_int("MLX_SERVER_PORT", c.port, 0, 65535));
  c.port = static_cast<int>(port);
  MLXM_ASSIGN_OR_RETURN(int64_t drain, env_int("MLX_SERVER_DRAIN_TIMEOUT_SECONDS", 30, 0, 3600));
  c.drain_timeout = std::chrono::seconds(drain);
  MLXM_ASSIGN_OR_RETURN(c.cors_origins, env_list("MLX_SERVER_CORS_ORIGINS"));
  MLXM_ASSIGN_OR_RETURN(int64_t handoff, env_int("MLXM_DEBUG_HANDOFF_DELAY_MS", 0, 0, 60'000));
  c.debug_handoff_delay = std::chrono::milliseconds(handoff);
  return c;
}

class HttpServer::Impl {
 public:
  Impl(ServerConfig config, Router router)
      : ioc_(config.io_threads),
        ctx_(std::make_shared<detail::ServerContext>(std::move(config), std::move(router))),
        acceptor_(ioc_),
        signals_(ioc_) {}

  ~Impl() {
    ioc_.stop();
    join();
  }

  Status start() {
    const ServerConfig& cfg = ctx_->config;
    MLXM_CHECK(cfg.io_threads >= 1);
    if (!cfg.static_dir.empty() && !std::filesystem::is_directory(cfg.static_dir)) {
      return invalid_argument("static directory does not exist: " + cfg.static_dir);
    }
    error_code ec;
    auto address = net::ip::make_address(cfg.host, ec);
    if (ec) return invalid_argument("MLX_SERVER_HOST: not an IP address: '" + cfg.host + "'");
    tcp::endpoint ep(address, static_cast<uint16_t>(cfg.port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return unavailable("cannot listen on " + cfg.host + ":" + std::to_string(cfg.port) + ": " +
                         ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(ioc_, accept_loop(), [](std::exception_ptr e) { log_exception(e, "listener"); });
    if (cfg.handle_signals) {
      signals_.add(SIGTERM);
      signals_.add(SIGINT);
      if (cfg.on_sighup) signals_.add(SIGHUP);
      arm_signals();
    }
    if (cfg.blocking_threads > 0) {
      blocking_pool_ = std::make_unique<net::thread_pool>(static_cast<size_t>(cfg.blocking_threads));
      ctx_->blocking_pool = blocking_pool_.get();
    }
    for (int i = 0; i < cfg.io_threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    return ok_status();
  }

  uint16_t port() const { return port_; }
  bool draining() const { return ctx_->draining.load(); }

  void begin_shutdown() {
    net::post(ioc_, [this] { on_shutdown_request(); });
  }

  bool wait() {
    join();
    return !drain_timed_out_;
  }

 private:
  static void log_exception(std::exception_ptr e, const char* what) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      MLXM_LOG_ERROR("{} failed: {}", what, ex.what());
    } catch (...) {
      MLXM_LOG_ERROR("{} failed", what);
    }
  }

  void join() {
    std::lock_guard lock(join_mu_);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

  void arm_signals() {
    signals_.async_wait([this](const error_code& ec, int signo) {
      if (ec) return;
      MLXM_LOG_INFO("received signal {}", signo);
      if (signo == SIGHUP && ctx_->config.on_sighup) {
        ctx_->config.on_sighup();
      } else {
        on_shutdown_request();
      }
      arm_signals();
    });
  }

  // On an io thread.
  void on_shutdown_request() {
    if (ctx_->draining.exchange(true)) {
      MLXM_LOG_WARN("second shutdown request: stopping now");
      ioc_.stop();
      return;
    }
    error_code ec;
    acceptor_.close(ec);
    MLXM_LOG_INFO("draining: not accepting connections; {} request(s) in flight; timeout {}s",
                  ctx_->in_flight.load(),
                  std::chrono::duration_cast<std::chrono::seconds>(ctx_->config.drain_timeout).count());
    net::co_spawn(ioc_, drain(), [](std::exception_ptr e) { log_exception(e, "drain"); });
  }

  net::awaitable<void> drain() {
    auto deadline = std::chrono::steady_clock::now() + ctx_->config.drain_timeout;
    net::steady_timer timer(ioc_);
    while (ctx_->in_flight.load() > 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        drain_timed_out_ = true;
        MLXM_LOG_WARN("drain timed out with {} request(s) in flight; closing them",
                      ctx_->in_flight.load());
        break;
      }
      timer.expires_after(std::chrono::milliseconds(10));
      error_code ec;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    MLXM_LOG_INFO("drained; stopping");
    ioc_.stop();
  }

  net::awaitable<void> accept_loop() {
    while (true) {
      tcp::socket socket(net::make_strand(ioc_));
      error_code ec;
      co_await acceptor_.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (!acceptor_.is_open() || ec == net::error::operation_aborted) co_return;
        MLXM_LOG_WARN("accept failed: {}", ec.message());
        net::steady_timer backoff(ioc_, std::chrono::milliseconds(20));  // e.g. out of fds
        co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto executor = socket.get_executor();
      net::co_spawn(executor, detail::run_session(ctx_, std::move(socket)),
                    [](std::exception_ptr e) { log_exception(e, "connection"); });
    }
  }

  net::io_context ioc_;  // first: destroyed last
  std::shared_ptr<detail::ServerContext> ctx_;
  // Destroyed (joined: running handlers finish) before the io_context; a handler finishing
  // after the io threads stopped only queues its continuation there.
  std::unique_ptr<net::thread_pool> blocking_pool_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  std::vector<std::thread> threads_;
  std::mutex join_mu_;
  uint16_t port_ = 0;
  bool drain_timed_out_ = false;
};

HttpServer::HttpServer(ServerConfig config, Router router)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(router))) {}
HttpServer::~HttpServer() = default;
Status HttpServer::start() { return impl_->start(); }
uint16_t HttpServer::port() const { return impl_->port(); }
bool HttpServer::draining() const { return impl_->draining(); }
void HttpServer::begin_shutdown() { impl_->begin_shutdown(); }
bool HttpServer::wait() { return impl_->wait(); }

}  // namespace mlxm::http
