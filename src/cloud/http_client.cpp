#include "cloud/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>

namespace mlxm::cloud {
namespace {

constexpr size_t kMaxBufferedBody = 64 << 20;  // bodies kept in memory (non-streamed, errors)

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  CURL* curl = nullptr;
  const TransferCallbacks* cb = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  ClientResponse resp;
  bool head_done = false;
  bool stopped = false;     // a callback or the cancel flag ended it
  bool too_large = false;
  bool timed_out = false;   // no byte for read_timeout
  long read_timeout_ms = 0;
  std::chrono::steady_clock::time_point t_last_byte = std::chrono::steady_clock::now();
};

bool is_cancelled(const Transfer& t) { return t.cancel && t.cancel->load(std::memory_order_relaxed); }

// Calls on_head once, when the first body byte (or the end) of the final response is reached.
bool finish_head(Transfer* t) {
  if (t->head_done) return true;
  t->head_done = true;
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  t->resp.status = code;
  if (t->cb->on_head && !t->cb->on_head(t->resp)) {
    t->stopped = true;
    return false;
  }
  return true;
}

size_t on_write(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  t->t_last_byte = std::chrono::steady_clock::now();
  if (is_cancelled(*t) || !finish_head(t)) {
    t->stopped = true;
    return 0;  // curl aborts with CURLE_WRITE_ERROR
  }
  const bool ok_status = t->resp.status >= 200 && t->resp.status < 300;
  if (ok_status && t->cb->on_body) {
    if (!t->cb->on_body(std::string_view(ptr, n))) {
      t->stopped = true;
      return 0;
    }
    return n;
  }
  if (t->resp.body.size() + n > kMaxBufferedBody) {
    t->too_large = true;
    return 0;
  }
  t->resp.body.append(ptr, n);
  return n;
}

size_t on_header(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  std::string_view line(ptr, n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new head (after 100 Continue or a redirect)
    t->resp.headers.clear();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t->resp.headers.emplace_back(std::move(name), std::string(value));
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (is_cancelled(*t)) {
    t->stopped = true;
    return 1;  // abort
  }
  const auto idle = std::chrono::steady_clock::now() - t->t_last_byte;
  if (idle > std::chrono::milliseconds(t->read_timeout_ms)) {
    t->timed_out = true;
    return 1;
  }
  return 0;
}

Status error_status(CURLcode rc, const char* errbuf, const std::string& url) {
  std::string what = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  std::string host = url;
  if (size_t p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
  if (size_t p = host.find('/'); p != std::string::npos) host.resize(p);
  const std::string msg = "request to " + host + " failed: " + what;
  if (rc == CURLE_OPERATION_TIMEDOUT) return deadline_exceeded(msg);
  return unavailable(msg);
}

}  // namespace

struct HttpClient::Share {
  CURLSH* handle = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Share*>(user)->locks[data].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Share*>(user)->locks[data].unlock();
  }
};

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return "";
}

HttpClient::HttpClient(HttpClientConfig config) : config_(config), share_(std::make_unique<Share>()) {
  global_init();
  share_->handle = curl_share_init();
  if (share_->handle) {
    curl_share_setopt(share_->handle, CURLSHOPT_LOCKFUNC, &Share::lock);
    curl_share_setopt(share_->handle, CURLSHOPT_UNLOCKFUNC, &Share::unlock);
    curl_share_setopt(share_->handle, CURLSHOPT_USERDATA, share_.get());
    curl_share_setopt(share_->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share_->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  }
}

HttpClient::~HttpClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
  if (share_->handle) curl_share_cleanup(share_->handle);
}

void* HttpClient::acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void HttpClient::release(void* curl) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < config_.max_idle_handles) {
    idle_.push_back(curl);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(curl));
  }
}

Result<ClientResponse> HttpClient::perform(const ClientRequest& request,
                                           const TransferCallbacks& callbacks,
                                           const std::atomic<bool>* cancel) {
  CURL* curl = static_cast<CURL*>(acquire());
  if (!curl) return internal_error("curl_easy_init failed");
  curl_easy_reset(curl);  // keeps the handle's connection cache
  Transfer t;
  t.curl = curl;
  t.cb = &callbacks;
  t.cancel = cancel;
  t.read_timeout_ms = config_.read_timeout_ms;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  if (share_->handle) curl_easy_setopt(curl, CURLOPT_SHARE, share_->handle);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, config_.connect_timeout_ms);
  // Read timeout: less than 1 byte/s over the window aborts (libcurl counts whole seconds).
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, std::max(1L, config_.read_timeout_ms / 1000));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // any encoding curl can decode
  curl_slist* list = nullptr;
  for (const auto& [k, v] : request.headers) list = curl_slist_append(list, (k + ": " + v).c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  if (rc == CURLE_OK) finish_head(&t);  // an empty body still reports its head
  release(curl);
  if (t.stopped || (rc != CURLE_OK && is_cancelled(t))) return cancelled("the request was cancelled");
  if (t.timed_out) {
    return deadline_exceeded("no data from the provider for " +
                             std::to_string(config_.read_timeout_ms / 1000.0).substr(0, 4) + " s");
  }
  if (t.too_large) return resource_exhausted("the response body exceeds 64 MiB");
  if (rc != CURLE_OK) return error_status(rc, errbuf, request.url);
  return std::move(t.resp);
}

}  // namespace mlxm::cloud
