// A fake cloud provider for tests: a real HTTP/1.1 server on 127.0.0.1 (plain sockets, one
// thread per connection, keep-alive) speaking the OpenAI chat completions and Anthropic
// messages wire formats, streamed (SSE, chunked, sent in small pieces with comments and CRLF
// line ends) and not, plus GET /v1/models. Faults are queued and consumed one per request:
// an HTTP status (429, 500, ...), a dropped connection before the answer, a stream cut after
// its first event, malformed SSE, a slow answer (2.5 s before the head), or an answer held
// until release_held(). POST /v1/messages/count_tokens answers {"input_tokens": N}, N the number
// of whitespace-separated words in the messages' text.
// Thread-safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mlxm::testing {

enum class Fault { kStatus, kDrop, kCutStream, kMalformedSse, kSlow, kHold };

struct FakeRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class FakeProvider {
 public:
  FakeProvider();
  ~FakeProvider();
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

  // The next request gets `fault` (status for kStatus).
  void push_fault(Fault fault, int status = 0);
  // Requests must carry this key (Bearer or x-api-key); "" accepts any.
  void set_required_key(std::string key);
  // Lets every answer held by Fault::kHold go (and those that come later).
  void release_held();
  // The number of requests that reached a Fault::kHold and still wait.
  int n_held() const;
  // The reply text, sent word by word when streamed.
  void set_reply(std::string text);

  int n_requests() const;
  int n_connections() const { return n_connections_.load(); }
  std::vector<FakeRequest> requests() const;

 private:
  struct Queued {
    Fault fault;
    int status;
  };
  void accept_loop();
  void serve(int fd);
  bool answer(int fd, const FakeRequest& req);  // false: close the connection

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> n_connections_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::condition_variable held_cv_;
  bool released_ = false;
  int n_held_ = 0;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;
  std::deque<Queued> faults_;
  std::vector<FakeRequest> requests_;
  std::string required_key_;
  std::string reply_ = "Hello from the fake provider";
};

}  // namespace mlxm::testing
