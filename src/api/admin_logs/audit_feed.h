// The live audit feed behind WebSocket /admin/ws/audit-logs. A subscriber first gets the most
// recent rows (backlog, oldest first), then every row as the writer commits it, each as one
// text message {"type": "audit_log", "backlog": bool, "data": {row}}; and {"type": "ping"}
// every ping interval. A subscriber whose connection has more than max_queued messages
// waiting (it reads slower than rows arrive) is closed and dropped: publishing never waits.
//
// Thread-safety: thread-safe. publish() runs on the store's writer thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "api/http/http_types.h"
#include "store/audit_log.h"

namespace mlxm::api {

struct AuditFeedOptions {
  int64_t backlog = 50;     // rows sent on connect
  size_t max_queued = 256;  // messages waiting on one connection before it is dropped
  std::chrono::milliseconds ping_interval{15000};
};

class AuditFeed {
 public:
  explicit AuditFeed(AuditFeedOptions options);
  ~AuditFeed();  // close()

  struct Subscriber;
  // Registers a connection; its live rows are held back until deliver_backlog() ran.
  std::shared_ptr<Subscriber> subscribe(std::shared_ptr<http::WebSocketConnection> conn);
  // Sends `rows` (newest first, as queried) oldest first, then the live rows that arrived
  // meanwhile and are newer than the backlog.
  void deliver_backlog(const std::shared_ptr<Subscriber>& sub, const std::vector<store::AuditRow>& rows);
  void publish(const std::vector<store::AuditRow>& rows);
  // Closes every connection and stops the ping thread. Idempotent.
  void close();

  size_t n_subscribers() const;
  uint64_t n_dropped_slow() const { return n_dropped_slow_.load(); }
  const AuditFeedOptions& options() const { return opt_; }

 private:
  bool send_locked(Subscriber& sub, const std::string& text);  // false: dropped
  void run_pings();

  AuditFeedOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Subscriber>> subs_;
  bool closed_ = false;
  std::atomic<uint64_t> n_dropped_slow_{0};
  std::thread ping_thread_;
};

}  // namespace mlxm::api
