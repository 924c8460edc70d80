// A tiny blocking HTTP/1.1 client for e2e tests: keep-alive requests, raw bytes, incremental
// reading of chunked/SSE bodies, and closing mid-stream. Every read has a timeout (default 15 s)
// so that a broken server fails a test instead of hanging it. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mlxm::e2e {

struct HttpResult {
  int status = 0;  // 0: no response (connection failed or closed)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string error;  // why status is 0

  std::string header(const std::string& name) const;  // "" when absent; name any case
  nlohmann::json json() const;  // parsed body; a null json when it is not JSON
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class HttpConnection {
 public:
  // Connects to 127.0.0.1:port; nullptr when refused (see last_connect_error()).
  static std::unique_ptr<HttpConnection> connect(uint16_t port, int timeout_ms = 15000);
  static std::string last_connect_error();
  ~HttpConnection();

  // Sends one request and reads the whole response (keep-alive by default).
  HttpResult request(const std::string& method, const std::string& target,
                     const std::string& body = "", const HeaderList& headers = {});

  // Lower level, for streams and malformed input.
  bool send_raw(const std::string& bytes);
  bool send_request(const std::string& method, const std::string& target,
                    const std::string& body = "", const HeaderList& headers = {});
  // Reads status line + headers only.
  HttpResult read_head();
  // Reads a whole response (head and body) to a request sent with send_request().
  HttpResult read_response();
  // After read_head() of a chunked response: the data of the next SSE event, nullopt at the end
  // of the body, on a timeout or when the connection closed.
  std::optional<std::string> next_sse_data();
  // Reads until the peer closes; true when it did within the timeout.
  bool wait_closed(int timeout_ms = 5000);
  void close();
  void set_timeout_ms(int ms) { timeout_ms_ = ms; }

 private:
  explicit HttpConnection(int fd) : fd_(fd) {}
  bool fill();                                   // reads more into buf_; false on EOF/timeout
  std::optional<std::string> read_line();        // up to CRLF, without it
  std::optional<std::string> read_exact(size_t n);
  std::optional<std::string> read_chunk();       // next chunk's payload; "" for the last one
  std::optional<std::string> read_body(const HttpResult& head);

  int fd_ = -1;
  int timeout_ms_ = 15000;  // generous: CI runs tests in parallel on 2 cores
  std::string buf_;
  std::string sse_pending_;  // chunked data not yet split into events
  bool body_done_ = false;
};

}  // namespace mlxm::e2e
