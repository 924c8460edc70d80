#include "e2e/harness/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mlxm::e2e {
namespace {

thread_local std::string g_connect_error;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string HttpResult::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? "" : it->second;
}

nlohmann::json HttpResult::json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::unique_ptr<HttpConnection> HttpConnection::connect(uint16_t port, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    g_connect_error = std::strerror(errno);
    return nullptr;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    g_connect_error = std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto conn = std::unique_ptr<HttpConnection>(new HttpConnection(fd));
  conn->timeout_ms_ = timeout_ms;
  return conn;
}

std::string HttpConnection::last_connect_error() { return g_connect_error; }

HttpConnection::~HttpConnection() { close(); }

void HttpConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool HttpConnection::send_raw(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool HttpConnection::send_request(const std::string& method, const std::string& target,
                                  const std::string& body, const HeaderList& headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  bool has_length = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    has_length = has_length || lower(k) == "content-length";
  }
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT")) {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  sse_pending_.clear();
  body_done_ = false;
  return send_raw(req);
}

bool HttpConnection::fill() {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, timeout_ms_);
  if (r <= 0) return false;
  char tmp[16384];
  ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

std::optional<std::string> HttpConnection::read_line() {
  while (true) {
    size_t pos = buf_.find("\r\n");
    if (pos != std::string::npos) {
      std::string line = buf_.substr(0, pos);
      buf_.erase(0, pos + 2);
      return line;
    }
    if (!fill()) return std::nullopt;
  }
}

std::optional<std::string> HttpConnection::read_exact(size_t n) {
  while (buf_.size() < n) {
    if (!fill()) return std::nullopt;
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

HttpResult HttpConnection::read_head() {
  HttpResult r;
  auto status_line = read_line();
  while (status_line && status_line->rfind("HTTP/1.1 100", 0) == 0) {  // skip 100 Continue
    while (auto l = read_line()) {
      if (l->empty()) break;
    }
    status_line = read_line();
  }
  if (!status_line || status_line->size() < 12) {
    r.error = "no status line (connection closed or timed out)";
    return r;
  }
  r.status = std::atoi(status_line->c_str() + 9);
  while (true) {
    auto line = read_line();
    if (!line) {
      r.status = 0;
      r.error = "headers cut short";
      return r;
    }
    if (line->empty()) break;
    size_t colon = line->find(':');
    if (colon == std::string::npos) continue;
    std::string value = line->substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[lower(line->substr(0, colon))] = value;
  }
  return r;
}

std::optional<std::string> HttpConnection::read_chunk() {
  auto size_line = read_line();
  if (!size_line) return std::nullopt;
  size_t n = std::stoul(*size_line, nullptr, 16);
  auto data = read_exact(n);
  if (!data || !read_line()) return std::nullopt;  // the CRLF after the data
  return data;
}

std::optional<std::string> HttpConnection::read_body(const HttpResult& head) {
  if (lower(head.header("transfer-encoding")) == "chunked") {
    std::string body;
    while (true) {
      auto chunk = read_chunk();
      if (!chunk) return std::nullopt;
      if (chunk->empty()) {
        read_line();  // the final CRLF
        return body;
      }
      body += *chunk;
    }
  }
  std::string len = head.header("content-length");
  if (!len.empty()) return read_exact(std::stoul(len));
  while (fill()) {
  }
  std::string all;
  all.swap(buf_);
  return all;
}

HttpResult HttpConnection::request(const std::string& method, const std::string& target,
                                   const std::string& body, const HeaderList& headers) {
  if (!send_request(method, target, body, headers)) {
    HttpResult r;
    r.error = "send failed";
    return r;
  }
  return read_response();
}

HttpResult HttpConnection::read_response() {
  HttpResult r = read_head();
  if (r.status == 0) return r;
  auto b = read_body(r);
  if (!b) {
    r.status = 0;
    r.error = "body cut short";
    return r;
  }
  r.body = std::move(*b);
  return r;
}

std::optional<std::string> HttpConnection::next_sse_data() {
  while (true) {
    size_t end = sse_pending_.find("\n\n");
    if (end != std::string::npos) {
      std::string event = sse_pending_.substr(0, end);
      sse_pending_.erase(0, end + 2);
      std::string data;
      size_t start = 0;
      while (start <= event.size()) {
        size_t nl = event.find('\n', start);
        std::string line = event.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if (line.rfind("data: ", 0) == 0) data += (data.empty() ? "" : "\n") + line.substr(6);
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
      return data;
    }
    if (body_done_) return std::nullopt;
    auto chunk = read_chunk();
    if (!chunk) return std::nullopt;
    if (chunk->empty()) body_done_ = true;
    sse_pending_ += *chunk;
  }
}

bool HttpConnection::wait_closed(int timeout_ms) {
  int saved = timeout_ms_;
  timeout_ms_ = timeout_ms;
  bool closed = false;
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms_) <= 0) break;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      closed = true;
      break;
    }
  }
  timeout_ms_ = saved;
  return closed;
}

}  // namespace mlxm::e2e
