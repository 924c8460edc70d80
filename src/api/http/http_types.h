// Framework-neutral HTTP types shared by the server and the handlers. No Beast/Asio here: a
// handler sees plain structs and two small interfaces (ResponseStream, WebSocketConnection).
//
// Thread-safety: HttpRequest/HttpResponse/Headers are plain values (thread-compatible).
// ResponseStream, PendingResponse and WebSocketConnection are thread-safe: any thread may call
// them, none of their methods blocks.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlxm::http {

// Ordered header list; lookups are ASCII case-insensitive.
class Headers {
 public:
  using Entry = std::pair<std::string, std::string>;

  // The first value of `name`, or nullopt.
  std::optional<std::string> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  // Replaces every value of `name` by one.
  void set(std::string name, std::string value);
  // Appends another value (e.g. a second Set-Cookie).
  void add(std::string name, std::string value);
  void erase(std::string_view name);

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<Entry> entries_;
};

bool iequals(std::string_view a, std::string_view b);

struct HttpResponse;

// Who the router's guard (Router::set_guard) authenticated for this request; empty without a
// guard or on an open route. Handlers may rely on it (e.g. admin checks, audit key ids).
struct RequestAuth {
  std::string api_key_id;  // the id of the API key used (never the key)
  int64_t user_id = 0;     // a logged-in user (0: none)
  std::string username;
  bool admin = false;      // the admin token, or an admin user's session
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, e.g. "/v1/models?x=1"
  std::string path;    // percent-decoded path without the query, e.g. "/v1/models"
  std::map<std::string, std::string> query;        // decoded; the first value of a repeated key
  Headers headers;
  std::string body;
  std::map<std::string, std::string> path_params;  // filled by the router
  std::string client_address;                      // "127.0.0.1:54321"
  std::string request_id;                          // also sent back as X-Request-ID
  RequestAuth auth;                                // set by the router's guard

  std::optional<std::string> query_param(const std::string& name) const;
  // The path parameter `name`; REQUIRES: the matched route declares it.
  const std::string& path_param(const std::string& name) const;
};

// A streamed response body (SSE). write() queues a chunk and returns at once; the connection
// writes queued chunks one write at a time, flushing each. Any thread may call any method.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Queues `chunk`; returns false (and drops it) once the stream is closed.
  virtual bool write(std::string chunk) = 0;
  // Ends the body after the queued chunks are written. Idempotent.
  virtual void close() = 0;
  // True after close(), a client disconnect, a write error or a server shutdown.
  virtual bool is_closed() const = 0;
  // `callback` runs once when the stream ends other than by close(): the client went away, a
  // write failed or timed out, the server was stopped. It runs on an io thread (or at once on
  // the caller's thread when that already happened); it must not block.
  virtual void on_close(std::function<void()> callback) = 0;
};

// A response that a handler completes later, from any thread (e.g. a non-streamed completion).
class PendingResponse {
 public:
  virtual ~PendingResponse() = default;
  // Sends `response` (plain, not streamed). Only the first call counts; returns false after.
  virtual bool send(HttpResponse response) = 0;
  virtual bool is_closed() const = 0;
  // As ResponseStream::on_close: fires once if the client goes away before send().
  virtual void on_close(std::function<void()> callback) = 0;
};

struct HttpResponse {
  int status = 200;
  Headers headers;
  std::string body;

  // Streaming: when set, the server sends status + headers (chunked body), then calls this on
  // the io thread with the stream. The callback must return promptly (start a thread or hand
  // the stream to one). The connection closes after the stream ends.
  std::function<void(std::shared_ptr<ResponseStream>)> on_stream;
  // Deferred: when set, the server calls this on the io thread and waits for send().
  std::function<void(std::shared_ptr<PendingResponse>)> on_pending;

  static HttpResponse text(int status, std::string body, std::string content_type = "text/plain");
  // Server-Sent Events: Content-Type text/event-stream, no caching, `start` gets the stream.
  static HttpResponse sse(std::function<void(std::shared_ptr<ResponseStream>)> start);
  static HttpResponse deferred(std::function<void(std::shared_ptr<PendingResponse>)> start);
};

// A WebSocket connection (text messages). Thread-safe; send() never blocks.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues a text message; false once closed.
  virtual bool send(std::string text) = 0;
  // Sends a close frame after the queued messages. Idempotent.
  virtual void close() = 0;
  virtual bool is_closed() const = 0;
  // Messages queued by send() that the connection has not started writing yet. It grows while
  // the client reads slower than we send: a producer uses it to drop a slow client.
  virtual size_t n_queued() const = 0;
  // Set these in the WebSocketHandler (before it returns); they run on an io thread.
  virtual void on_message(std::function<void(std::string)> callback) = 0;
  virtual void on_close(std::function<void()> callback) = 0;
};

using Handler = std::function<HttpResponse(HttpRequest&)>;
using WebSocketHandler = std::function<void(const HttpRequest&, std::shared_ptr<WebSocketConnection>)>;

// Formats one Server-Sent Event: optional "event: <name>\n", one "data: " line per line of
// `data`, then a blank line.
std::string sse_event(std::string_view data, std::string_view event = {});

// RFC 3986 percent-decoding; `plus_is_space` for query strings. Returns nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

}  // namespace mlxm::http
