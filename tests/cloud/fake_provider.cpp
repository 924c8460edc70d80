#include "cloud/fake_provider.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

namespace mlxm::testing {

using nlohmann::json;

namespace {

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) out.push_back(out.empty() ? w : " " + w);
  return out;
}

// The words of the messages' text (string content or text blocks) and of the system prompt.
size_t count_words(const json& body) {
  size_t n = 0;
  auto text = [&](const json& c) {
    if (c.is_string()) n += words(c.get<std::string>()).size();
    if (!c.is_array()) return;
    for (const auto& block : c) {
      if (block.is_object() && block.contains("text") && block["text"].is_string()) {
        n += words(block["text"].get<std::string>()).size();
      }
    }
  };
  if (body.contains("system")) text(body["system"]);
  if (body.contains("messages") && body["messages"].is_array()) {
    for (const auto& m : body["messages"]) {
      if (m.is_object() && m.contains("content")) text(m["content"]);
    }
  }
  return n;
}

std::string head(int status, const std::string& type, size_t length, bool chunked) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + type + "\r\n";
  h += chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: " + std::to_string(length) + "\r\n";
  return h + "\r\n";
}

bool chunk(int fd, const std::string& data) {
  std::ostringstream o;
  o << std::hex << data.size() << "\r\n" << data << "\r\n";
  return send_all(fd, o.str());
}

// OpenAI chat stream events.
std::vector<std::string> openai_stream(const json& req, const std::string& reply) {
  const std::string model = req.value("model", "");
  auto c = [&](json delta, json finish) {
    return json{{"id", "chatcmpl-fake"}, {"object", "chat.completion.chunk"}, {"created", 1},
                {"model", model}, {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}};
  };
  std::vector<std::string> ev;
  ev.push_back("data: " + c({{"role", "assistant"}, {"content", ""}}, nullptr).dump() + "\r\n\r\n");
  ev.push_back(": keep-alive\n\n");
  const auto ws = words(reply);
  for (const auto& w : ws) ev.push_back("data: " + c({{"content", w}}, nullptr).dump() + "\n\n");
  ev.push_back("data: " + c(json::object(), "stop").dump() + "\n\n");
  const bool usage = req.contains("stream_options") && req["stream_options"].value("include_usage", false);
  if (usage) {
    json u = {{"id", "chatcmpl-fake"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", model},
              {"choices", json::array()},
              {"usage", {{"prompt_tokens", 7}, {"completion_tokens", ws.size()}, {"total_tokens", 7 + ws.size()}}}};
    ev.push_back("data: " + u.dump() + "\n\n");
  }
  ev.push_back("data: [DONE]\n\n");
  return ev;
}

std::vector<std::string> anthropic_stream(const json& req, const std::string& reply) {
  auto e = [](const std::string& name, const json& data) {
    return "event: " + name + "\r\ndata: " + data.dump() + "\r\n\r\n";
  };
  const auto ws = words(reply);
  std::vector<std::string> ev;
  ev.push_back(e("message_start",
                 {{"type", "message_start"},
                  {"message", {{"id", "msg_fake"}, {"type", "message"}, {"role", "assistant"},
                               {"model", req.value("model", "")}, {"content", json::array()},
                               {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                               {"usage", {{"input_tokens", 7}, {"output_tokens", 1}}}}}}));
  ev.push_back(e("content_block_start", {{"type", "content_block_start"}, {"index", 0},
                                         {"content_block", {{"type", "text"}, {"text", ""}}}}));
  ev.push_back(e("ping", {{"type", "ping"}}));
  for (const auto& w : ws) {
    ev.push_back(e("content_block_delta", {{"type", "content_block_delta"}, {"index", 0},
                                           {"delta", {{"type", "text_delta"}, {"text", w}}}}));
  }
  ev.push_back(e("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}));
  ev.push_back(e("message_delta", {{"type", "message_delta"},
                                   {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                                   {"usage", {{"output_tokens", ws.size()}}}}));
  ev.push_back(e("message_stop", {{"type", "message_stop"}}));
  return ev;
}

json openai_completion(const json& req, const std::string& reply) {
  return {{"id", "chatcmpl-fake"}, {"object", "chat.completion"}, {"created", 1},
          {"model", req.value("model", "")},
          {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", reply}}},
                        {"finish_reason", "stop"}}}},
          {"usage", {{"prompt_tokens", 7}, {"completion_tokens", words(reply).size()},
                     {"total_tokens", 7 + words(reply).size()}}}};
}

json anthropic_message(const json& req, const std::string& reply) {
  return {{"id", "msg_fake"}, {"type", "message"}, {"role", "assistant"},
          {"model", req.value("model", "")},
          {"content", {{{"type", "text"}, {"text", reply}}}},
          {"stop_reason", "end_turn"}, {"stop_sequence", nullptr},
          {"usage", {{"input_tokens", 7}, {"output_tokens", words(reply).size()}}}};
}

}  // namespace

FakeProvider::FakeProvider() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(listen_fd_, 64);
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeProvider::~FakeProvider() {
  release_held();
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> ws;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    ws.swap(workers_);
  }
  for (auto& t : ws) t.join();
}

void FakeProvider::push_fault(Fault fault, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back({fault, status});
}

void FakeProvider::release_held() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
  }
  held_cv_.notify_all();
}

int FakeProvider::n_held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return n_held_;
}

void FakeProvider::set_required_key(std::string key) {
  std::lock_guard<std::mutex> lock(mu_);
  required_key_ = std::move(key);
}

void FakeProvider::set_reply(std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  reply_ = std::move(text);
}

int FakeProvider::n_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(requests_.size());
}

std::vector<FakeRequest> FakeProvider::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void FakeProvider::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++n_connections_;
    std::lock_guard<std::mutex> lock(mu_);
    open_fds_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void FakeProvider::serve(int fd) {
  std::string buf;
  char tmp[8192];
  while (!stop_) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) goto done;
      buf.append(tmp, static_cast<size_t>(n));
    }
    {
      FakeRequest req;
      std::istringstream in(buf.substr(0, end));
      std::string line;
      std::getline(in, line);
      std::istringstream rl(line);
      rl >> req.method >> req.path;
      size_t length = 0;
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t c = line.find(':');
        if (c == std::string::npos) continue;
        std::string v = line.substr(c + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        req.headers[lower(line.substr(0, c))] = v;
      }
      if (req.headers.count("content-length")) length = std::stoul(req.headers["content-length"]);
      buf.erase(0, end + 4);
      while (buf.size() < length) {
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) goto done;
        buf.append(tmp, static_cast<size_t>(n));
      }
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      if (!answer(fd, req)) break;
    }
  }
done:
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
  ::close(fd);
}

bool FakeProvider::answer(int fd, const FakeRequest& req) {
  std::optional<Queued> fault;
  std::string key, reply;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(req);
    if (!faults_.empty()) {
      fault = faults_.front();
      faults_.pop_front();
    }
    key = required_key_;
    reply = reply_;
  }
  auto send_json = [&](int status, const json& j) {
    const std::string body = j.dump();
    return send_all(fd, head(status, "application/json", body.size(), false) + body);
  };
  if (fault && fault->fault == Fault::kDrop) return false;
  if (fault && fault->fault == Fault::kStatus) {
    send_json(fault->status, {{"error", {{"message", "injected failure " + std::to_string(fault->status)},
                                         {"type", fault->status == 429 ? "rate_limit_error" : "server_error"}}}});
    return true;
  }
  if (fault && fault->fault == Fault::kSlow) std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  if (fault && fault->fault == Fault::kHold) {
    std::unique_lock<std::mutex> lock(mu_);
    ++n_held_;
    held_cv_.wait(lock, [&] { return released_; });
    --n_held_;
  }
  if (!key.empty()) {
    const std::string auth = req.headers.count("authorization") ? req.headers.at("authorization") : "";
    const std::string xkey = req.headers.count("x-api-key") ? req.headers.at("x-api-key") : "";
    if (auth != "Bearer " + key && xkey != key) {
      return send_json(401, {{"error", {{"message", "Incorrect API key provided: " + auth + xkey},
                                        {"type", "authentication_error"}}}});
    }
  }
  if (req.method == "GET" && req.path == "/v1/models") {
    return send_json(200, {{"object", "list"}, {"data", {{{"id", "fake-model"}, {"object", "model"}}}}});
  }
  const json body = json::parse(req.body, nullptr, false);
  if (req.method == "POST" && req.path == "/v1/messages/count_tokens" && body.is_object()) {
    return send_json(200, {{"input_tokens", count_words(body)}});
  }
  const bool anthropic = req.path == "/v1/messages";
  if (req.method != "POST" || (!anthropic && req.path != "/v1/chat/completions") || !body.is_object()) {
    return send_json(404, {{"error", {{"message", "no route " + req.path}, {"type", "not_found"}}}});
  }
  if (!body.value("stream", false)) {
    return send_json(200, anthropic ? anthropic_message(body, reply) : openai_completion(body, reply));
  }
  const auto events = anthropic ? anthropic_stream(body, reply) : openai_stream(body, reply);
  if (!send_all(fd, head(200, "text/event-stream", 0, true))) return false;
  for (size_t i = 0; i < events.size(); ++i) {
    if (fault && fault->fault == Fault::kCutStream && i == 1) return false;  // no last chunk
    std::string ev = events[i];
    if (fault && fault->fault == Fault::kMalformedSse && i == 1) {
      ev = "data: {\"broken\": \n\n";  // not JSON; and then the stream ends without [DONE]
      chunk(fd, ev);
      return chunk(fd, "") && false;
    }
    // Split every event in two pieces so the parser sees partial lines.
    const size_t half = ev.size() / 2;
    if (!chunk(fd, ev.substr(0, half)) || !chunk(fd, ev.substr(half))) return false;
  }
  return chunk(fd, "");
}

}  // namespace mlxm::testing
