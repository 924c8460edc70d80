#include "bench/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace mlxm::bench {
namespace {

constexpr size_t kMaxErrorBody = 1 << 20;  // a non-2xx body is kept up to this size

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  CURL* curl = nullptr;
  HttpResponse* resp = nullptr;
  BodyCallback* on_body = nullptr;
  bool aborted_by_callback = false;
};

long current_status(CURL* curl) {
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

size_t on_write(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  const TimePoint at = now();
  const long status = current_status(t->curl);
  if (t->on_body && *t->on_body && status >= 200 && status < 300) {
    if (!(*t->on_body)(std::string_view(ptr, n), at)) {
      t->aborted_by_callback = true;
      return 0;  // makes curl abort with CURLE_WRITE_ERROR
    }
    return n;
  }
  if (t->resp->body.size() < kMaxErrorBody) t->resp->body.append(ptr, n);
  return n;
}

size_t on_header(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  std::string_view line(ptr, n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response head (e.g. after 100 Continue)
    t->resp->headers.clear();
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t->resp->headers[name] = std::string(value);
  return n;
}

}  // namespace

HttpClient::HttpClient() {
  global_init();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpResponse HttpClient::get(const std::string& url, const Headers& headers, long timeout_ms) {
  return perform(url, nullptr, headers, timeout_ms, nullptr);
}

HttpResponse HttpClient::post(const std::string& url, const std::string& body,
                              const Headers& headers, long timeout_ms, BodyCallback on_body) {
  return perform(url, &body, headers, timeout_ms, std::move(on_body));
}

HttpResponse HttpClient::perform(const std::string& url, const std::string* body,
                                 const Headers& headers, long timeout_ms, BodyCallback on_body) {
  HttpResponse resp;
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) {
    resp.error = "curl_easy_init failed";
    return resp;
  }
  curl_easy_reset(curl);  // keeps the connection cache
  Transfer t{curl, &resp, &on_body, false};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(timeout_ms, 10000));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_slist* list = nullptr;
  for (const auto& [k, v] : headers) list = curl_slist_append(list, (k + ": " + v).c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  resp.status = current_status(curl);
  if (rc != CURLE_OK && !t.aborted_by_callback) {
    resp.error = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT) resp.error = "timeout: " + resp.error;
  } else if (t.aborted_by_callback) {
    resp.error = "aborted by the reader";
  }
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  curl_slist_free_all(list);
  return resp;
}

std::string join_url(const std::string& base, const std::string& path) {
  if (base.empty()) return path;
  if (base.back() == '/' && !path.empty() && path.front() == '/') return base + path.substr(1);
  if (base.back() != '/' && !path.empty() && path.front() != '/') return base + "/" + path;
  return base + path;
}

}  // namespace mlxm::bench
