// http_bench: a tiny closed-loop HTTP/1.1 load generator. N keep-alive connections (one thread
// each) send GET <path> back to back for T seconds; prints requests/s and latency percentiles.
//   build-http/bin/http_bench --port 10242 --connections 16 --seconds 10 [--path /health]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Worker {
  std::vector<double> latencies_us;
  long errors = 0;
};

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Reads one response with a Content-Length body; false on error. `buf` keeps leftovers.
bool read_response(int fd, std::string& buf) {
  char tmp[8192];
  while (true) {
    size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t cl = buf.find("Content-Length: ");
      if (cl == std::string::npos || cl > end) return false;
      size_t len = std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
      if (buf.size() >= end + 4 + len) {
        bool ok = buf.compare(0, 12, "HTTP/1.1 200") == 0;
        buf.erase(0, end + 4 + len);
        return ok;
      }
    }
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
}

void run(Worker* w, int port, const std::string& request, Clock::time_point until) {
  int fd = connect_to(port);
  std::string buf;
  while (Clock::now() < until) {
    if (fd < 0) {
      w->errors++;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      fd = connect_to(port);
      continue;
    }
    auto t0 = Clock::now();
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()) ||
        !read_response(fd, buf)) {
      w->errors++;
      ::close(fd);
      fd = -1;
      buf.clear();
      continue;
    }
    w->latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  if (fd >= 0) ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 10242, connections = 16;
  double seconds = 10;
  std::string path = "/health";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--port") port = std::atoi(argv[i + 1]);
    else if (k == "--connections") connections = std::atoi(argv[i + 1]);
    else if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (k == "--path") path = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (connections < 1 || seconds <= 0) {
    std::fprintf(stderr, "need --connections >= 1 and --seconds > 0\n");
    return 2;
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::vector<Worker> workers(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  auto t_start = Clock::now();
  auto until = t_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (auto& w : workers) threads.emplace_back(run, &w, port, request, until);
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();
  std::vector<double> all;
  long errors = 0;
  for (auto& w : workers) {
    all.insert(all.end(), w.latencies_us.begin(), w.latencies_us.end());
    errors += w.errors;
  }
  if (all.empty()) {
    std::fprintf(stderr, "no successful requests (%ld errors): is the server on port %d?\n", errors, port);
    return 1;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
  std::printf("GET %s: %d connections, %.1f s\n", path.c_str(), connections, elapsed);
  std::printf("requests: %zu ok, %ld errors\n", all.size(), errors);
  std::printf("throughput: %.0f requests/s\n", all.size() / elapsed);
  std::printf("latency us: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n", pct(0.5), pct(0.9),
              pct(0.99), pct(0.999), all.back());
  return errors > 0 ? 1 : 0;
}
