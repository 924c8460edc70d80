// HTTP client for cloud providers, on libcurl. Connections are reused: easy handles go back to
// a pool after each request (each keeps its connection cache) and a curl share object shares
// connections, DNS and TLS sessions between them. TLS peers and host names are verified;
// proxies come from the usual variables (http_proxy, https_proxy, no_proxy), which libcurl
// reads itself. A response body is delivered incrementally to a callback as it arrives, so
// streams (SSE) are forwarded while they are generated; a cancel flag aborts a transfer.
//
// Thread-safety: HttpClient is thread-safe; perform() blocks its caller (run it on a worker
// thread, never on an io thread).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace mlxm::cloud {

struct HttpClientConfig {
  long connect_timeout_ms = 10000;
  // A transfer that receives no byte for this long fails (between chunks of a stream too).
  long read_timeout_ms = 300000;
  size_t max_idle_handles = 32;
};

using HeaderPairs = std::vector<std::pair<std::string, std::string>>;

struct ClientRequest {
  std::string method = "POST";  // "GET" or "POST"
  std::string url;
  HeaderPairs headers;
  std::string body;
};

struct ClientResponse {
  long status = 0;
  HeaderPairs headers;  // names lower-cased
  std::string body;     // the whole body, unless a 2xx body went to on_body
  std::string header(std::string_view name) const;  // "" when absent
};

struct TransferCallbacks {
  // Called once when the final response head arrived, before any body byte. Returning false
  // aborts the transfer (perform() then returns kCancelled).
  std::function<bool(const ClientResponse& head)> on_head;
  // When set, a 2xx body is passed here piece by piece instead of being kept in `body`.
  // Returning false aborts the transfer.
  std::function<bool(std::string_view piece)> on_body;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientConfig config = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Runs one request. Errors: kUnavailable (cannot resolve/connect/TLS, connection dropped),
  // kDeadlineExceeded (connect or read timeout), kCancelled (`cancel` set or a callback said
  // stop). An HTTP error status is not an error here: it is in the response.
  Result<ClientResponse> perform(const ClientRequest& request, const TransferCallbacks& callbacks = {},
                                 const std::atomic<bool>* cancel = nullptr);

  const HttpClientConfig& config() const { return config_; }

 private:
  void* acquire();           // a CURL* from the pool or a new one
  void release(void* curl);  // back to the pool (or cleaned up when the pool is full)

  HttpClientConfig config_;
  struct Share;
  std::unique_ptr<Share> share_;
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL*
};

}  // namespace mlxm::cloud
