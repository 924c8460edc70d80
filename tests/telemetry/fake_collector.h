// A fake OTLP/HTTP collector for tests: a plain HTTP server on 127.0.0.1 (one request per
// connection) that records every request and answers a fixed status.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mlxm::testing {

struct Received {
  std::string target;
  std::string headers;
  std::string body;
};

// One-request-per-connection HTTP server on 127.0.0.1 answering `status` to every request.
class FakeCollector {
 public:
  explicit FakeCollector(int status = 200) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeCollector() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string data;
      char buf[4096];
      size_t header_end = std::string::npos;
      size_t need = 0;
      while (true) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
        if (header_end == std::string::npos) {
          header_end = data.find("\r\n\r\n");
          if (header_end != std::string::npos) {
            std::string head = data.substr(0, header_end);
            for (auto& ch : head)
              ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            size_t cl = head.find("content-length:");
            need = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15));
          }
        }
        if (header_end != std::string::npos && data.size() >= header_end + 4 + need) break;
      }
      if (header_end != std::string::npos) {
        Received r;
        r.headers = data.substr(0, header_end);
        r.target = r.headers.substr(r.headers.find(' ') + 1);
        r.target = r.target.substr(0, r.target.find(' '));
        r.body = data.substr(header_end + 4);
        std::lock_guard lock(mu_);
        got_.push_back(std::move(r));
      }
      std::string reply = "HTTP/1.1 " + std::to_string(status_) +
                          " X\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                          "Connection: close\r\n\r\n{}";
      (void)!::write(c, reply.data(), reply.size());
      ::close(c);
    }
  }

  int status_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Received> got_;
  std::thread thread_;
};

}  // namespace mlxm::testing
