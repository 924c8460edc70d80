// A small blocking HTTP client on libcurl for the benchmark: GET/POST with a timeout, streamed
// bodies delivered piece by piece with their arrival time. One HttpClient owns one curl easy
// handle and reuses its keep-alive connection: use one per thread (not thread-safe; distinct
// clients may run concurrently). Never throws; transport failures come back in `error`.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace mlxm::bench {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  long status = 0;                             // 0: no HTTP response (see error)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;   // the whole body, or for a streamed 2xx answer only what was not streamed
  std::string error;  // transport error ("Couldn't connect to server", "Timeout ..."), "" if none
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

// Receives a piece of a 2xx body and when it arrived; return false to abort the transfer.
using BodyCallback = std::function<bool(std::string_view piece, TimePoint at)>;

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(const std::string& url, const Headers& headers = {}, long timeout_ms = 10000);
  // POSTs `body`; when `on_body` is set, a 2xx body is handed to it as it arrives (not stored).
  HttpResponse post(const std::string& url, const std::string& body, const Headers& headers = {},
                    long timeout_ms = 600000, BodyCallback on_body = nullptr);

 private:
  HttpResponse perform(const std::string& url, const std::string* body, const Headers& headers,
                       long timeout_ms, BodyCallback on_body);
  void* curl_ = nullptr;  // CURL*
};

// "http://host:port" + "/path" without a doubled or missing slash.
std::string join_url(const std::string& base, const std::string& path);

}  // namespace mlxm::bench
